/* SPDX-License-Identifier: MIT */
/*
 * config.c: reads /etc/apmatrix.yaml and its drop-ins with libyaml's event
 * API into struct config (DESIGN §2, STYLE R23, R24).
 *
 * The grammar is a set of key tables (netplan's mapping_entry_handler idea):
 * each entry names a key, the node type it expects and the handler that
 * consumes the value.  Unknown keys are reported at the key, duplicate keys
 * (which libyaml accepts silently) at the second occurrence, naming the
 * first.  Anchors, aliases and tags are rejected: they make a value's source
 * position ambiguous, and a configuration this small never needs them.
 *
 * Every problem is recorded in the diag_list and parsing goes on with the
 * next sibling node (STYLE R11).  Only a YAML syntax error ends the file:
 * libyaml cannot resynchronise after one.
 *
 * Numbers are checked here, not in compile.c, because the messages need
 * the text as written and the scalar's style:
 *  - a plain scalar is a number: decimal or 0x hex, 0..255.  A leading zero
 *    (047) is refused, since YAML 1.1 and the kernel read it as octal;
 *  - a quoted scalar is a range "LOW-HIGH" (both ends inclusive, each end
 *    written like a plain number, LOW <= HIGH).  A quoted single number
 *    ("0x05") is accepted as the one-number range: the text is unambiguous
 *    and templating tools quote freely;
 *  - an unquoted range (0x04-0x07) is refused: YAML would read it as a
 *    string only by accident, and the rule "ranges are quoted" keeps the
 *    distinction between numbers and strings visible.
 * libyaml marks are 0-based; every mark stored here is 1-based (R13).
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "config.h"
#include "trust.h"

#define QUOTE_MAX (2 + 64 * 4 + 3 + 1) /* quote(): 64 characters of 4 bytes each (\xNN), quotes, "...", NUL */

enum node_type {
	NODE_SCALAR,
	NODE_SEQUENCE,
	NODE_MAPPING,
};

/* Where a mapping sits, for messages: "host", "host.keep" or a guest. */
struct map_ctx {
	const char *label; /* NULL at the top level */
	bool is_guest;     /* label is a guest name */
};

struct parser {
	yaml_parser_t yp;
	yaml_event_t ev;
	bool have_ev;
	bool broken; /* libyaml reported a syntax error: no more events */
	const char *file;
	struct diag_list *diags;
	struct config *cfg;
	bool saw_version;
	bool is_main;      /* the main file, not a drop-in */
	const char *owner; /* of the number list or host setting being read: "host.keep", "host"; NULL inside a guest */
	const char *guest; /* the guest being read, for diag.guest */
	const char *value_of; /* the guest whose value the next event is: an alias or anchor there is its error */
	bool at_name;      /* the next event is a key of guests: a scalar there is a guest's name */
	bool value_anchored; /* that value had an anchor (reported): the guest is dropped, as for an alias */
	char owner_buf[sizeof("guest ") + QUOTE_MAX]; /* owner_of() for a guest, made only for a message */
	bool unknown_key;  /* process_mapping() met a key it does not know */
	bool scalar_cut;   /* the current scalar was longer than CONFIG_MAX_SCALAR (reported): cut */
	/*
	 * The input: in memory (stdin, config_load_buffer(), a file whose
	 * bytes apply keeps: config_keep_inputs()), or else a file that
	 * libyaml reads through read_input() and that input_read() reads again
	 * for the position of an encoding error; check, show and the others do
	 * not hold a file in memory (10,000 guests are 830 KB).
	 */
	const char *buf;
	size_t len;
	int fd;
	size_t n_read;   /* from fd so far */
	int input_error; /* errno of a failed read, or EFBIG */
	size_t first_diag; /* diags->n when this file started */
	unsigned depth;    /* of the current node: mappings and sequences open */
	unsigned n_errors; /* in this file, up to CONFIG_MAX_ERRORS */
	bool stopped;      /* CONFIG_MAX_ERRORS reached: the rest of the file is not read */
};

struct key_entry;
typedef int (*key_handler)(struct parser *p, const struct key_entry *e, const struct mark *key_mark,
			   void *data);

struct key_entry {
	const char *key;
	enum node_type type;
	key_handler handler;
	size_t offset;    /* of the target field inside data */
	const char *noun; /* number lists only (offset is a struct config_list): what one entry is */
};

static int handle_version(struct parser *p, const struct key_entry *e, const struct mark *key_mark, void *data);
static int handle_host(struct parser *p, const struct key_entry *e, const struct mark *key_mark, void *data);
static int handle_keep(struct parser *p, const struct key_entry *e, const struct mark *key_mark, void *data);
static int handle_masks(struct parser *p, const struct key_entry *e, const struct mark *key_mark, void *data);
static int handle_guests(struct parser *p, const struct key_entry *e, const struct mark *key_mark, void *data);

/* Handler for mappings whose keys are names (guests): called at the key, reads the value. */
typedef int (*any_key_handler)(struct parser *p, const char *key, const struct mark *key_mark, void *data);

static const char *const masks_table[_CONFIG_MASKS_MAX] = {
	[CONFIG_MASKS_AUTO] = "auto",
	[CONFIG_MASKS_OFF] = "off",
};

const char *config_masks_to_string(enum config_masks m)
{
	return m >= 0 && m < _CONFIG_MASKS_MAX ? masks_table[m] : NULL;
}

/* ---- helpers ---- */

static struct mark mark_of(const struct parser *p, const yaml_mark_t *m)
{
	return (struct mark){ .file = p->file, .line = (unsigned)m->line + 1, .col = (unsigned)m->column + 1 };
}

static struct mark ev_mark(const struct parser *p)
{
	return mark_of(p, &p->ev.start_mark);
}

/*
 * A value as it may appear inside a message: single-quoted, control
 * characters escaped (one diagnostic is one line), long values shortened.
 */
static char *quote_into(char out[static QUOTE_MAX], const char *s)
{
	char *o = out;
	size_t n = 0; /* bytes of s taken: each gives at most 4 ("\xNN") */

	*o++ = '\'';
	for (const unsigned char *c = (const unsigned char *)s; *c;) {
		size_t k = control_char_at(c);

		if (n + (k ? k : 1) > 64) {
			memcpy(o, "...", 3);
			o += 3;
			break;
		}
		n += k ? k : 1;
		if (*c == '\n' || *c == '\t') {
			*o++ = '\\';
			*o++ = *c++ == '\n' ? 'n' : 't';
		} else if (k) {
			for (; k; k--)
				o += sprintf(o, "\\x%02x", *c++);
		} else
			*o++ = (char)*c++;
	}
	*o++ = '\'';
	*o = '\0';
	return out;
}

static char *quote(const char *s)
{
	return quote_into(xmalloc(QUOTE_MAX), s);
}

/*
 * How many bytes of a scalar longer than CONFIG_MAX_SCALAR are kept: its
 * first 64, in whole UTF-8 characters (next_event()).
 */
static size_t cut_length(const yaml_char_t *v)
{
	size_t n = 64;

	while (n > 0 && (v[n] & 0xc0) == 0x80)
		n--;
	return n;
}

/* The owner of the number list being read, for messages: "host.keep", "guest 'g1'". */
static const char *owner_of(struct parser *p)
{
	if (p->owner || !p->guest)
		return p->owner ? p->owner : "?";
	memcpy(p->owner_buf, "guest ", 6);
	quote_into(p->owner_buf + 6, p->guest);
	return p->owner_buf;
}

static char *mark_string(const struct mark *m)
{
	return xasprintf("%s:%u:%u", m->file, m->line, m->col);
}

/* The label of a key inside ctx: "guests", "host.keep", "guest 'g1': adapters". */
static char *key_label(const struct map_ctx *ctx, const char *key)
{
	_cleanup_free_ char *q = NULL, *k = NULL;
	size_t n = 0;

	/* any key, as the file has it: one that is not plain text is quoted (one diagnostic, one line) */
	for (const unsigned char *c = (const unsigned char *)key; *c; c++, n++)
		if (*c < 0x20 || *c == 0x7f || n == 64) {
			k = quote(key);
			key = k;
			break;
		}
	if (!ctx->label)
		return xstrdup(key);
	if (!ctx->is_guest)
		return xasprintf("%s.%s", ctx->label, key);
	q = quote(ctx->label);
	return xasprintf("guest %s: %s", q, key);
}

/* The owner of a mapping for messages about the mapping itself. */
static char *ctx_label(const struct map_ctx *ctx)
{
	if (!ctx->label)
		return xstrdup("");
	if (!ctx->is_guest)
		return xasprintf("%s: ", ctx->label);
	{
		_cleanup_free_ char *q = quote(ctx->label);
		return xasprintf("guest %s: ", q);
	}
}

static const char *scalar_value(const struct parser *p)
{
	return (const char *)p->ev.data.scalar.value;
}

static bool scalar_is_plain(const struct parser *p)
{
	return p->ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

/* YAML 1.1 and 1.2 core schema null: empty, ~, null. */
static bool scalar_is_null(const struct parser *p)
{
	const char *v = scalar_value(p);

	return p->ev.type == YAML_SCALAR_EVENT && scalar_is_plain(p) &&
	       (!*v || streq(v, "~") || streq(v, "null") || streq(v, "Null") || streq(v, "NULL"));
}

static bool word_is_bool(const char *v)
{
	static const char *const words[] = { "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
					      "true", "True", "TRUE", "false", "False", "FALSE",
					      "on", "On", "ON", "off", "Off", "OFF" };

	for (size_t i = 0; i < ARRAY_SIZE(words); i++)
		if (streq(v, words[i]))
			return true;
	return false;
}

/* "a mapping", "a sequence", "a scalar '5'", "an empty value", "null", "an alias" */
static char *node_kind(const struct parser *p)
{
	switch (p->ev.type) {
	case YAML_MAPPING_START_EVENT:
		return xstrdup("a mapping");
	case YAML_SEQUENCE_START_EVENT:
		return xstrdup("a sequence");
	case YAML_ALIAS_EVENT:
		return xstrdup("an alias");
	case YAML_SCALAR_EVENT: {
		if (scalar_is_null(p))
			return xstrdup(*scalar_value(p) ? "null" : "an empty value");
		_cleanup_free_ char *q = quote(scalar_value(p));
		return xasprintf("a scalar %s", q);
	}
	default:
		return xstrdup("nothing");
	}
}

static const char *node_type_name(enum node_type t)
{
	switch (t) {
	case NODE_SCALAR:
		return "a scalar";
	case NODE_SEQUENCE:
		return "a sequence";
	case NODE_MAPPING:
		return "a mapping";
	}
	return "?";
}

_printf_(3, 4) static void error_at(struct parser *p, const struct mark *m, const char *fmt, ...)
{
	va_list ap;

	if (p->stopped)
		return;
	va_start(ap, fmt);
	diag_addv(p->diags, DIAG_ERROR, m, p->guest, fmt, ap);
	va_end(ap);
	if (++p->n_errors == CONFIG_MAX_ERRORS) {
		/* like a syntax error: no more events, every caller unwinds */
		diag_add(p->diags, DIAG_ERROR, m, NULL, "too many errors (%d); the rest of the file is not read",
			 CONFIG_MAX_ERRORS);
		p->stopped = p->broken = true;
	}
}

_printf_(3, 4) static void warning_at(struct parser *p, const struct mark *m, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_addv(p->diags, DIAG_WARNING, m, p->guest, fmt, ap);
	va_end(ap);
}

/*
 * "guest 'g1': " before a message about something inside a guest's
 * definition (as owner_of()), "host.keep: " inside host.keep, "host.masks: ",
 * "host: " inside the rest of host, else "".
 */
static const char *in_owner(const struct parser *p, char buf[static QUOTE_MAX + 8])
{
	size_t n;

	if (!p->guest && !p->owner)
		return "";
	if (!p->guest) {
		snprintf(buf, QUOTE_MAX + 8, "%s: ", p->owner);
		return buf;
	}
	memcpy(buf, "guest ", 6);
	n = 6 + strlen(quote_into(buf + 6, p->guest));
	memcpy(buf + n, ": ", 3);
	return buf;
}

static void check_anchor_tag(struct parser *p, const yaml_char_t *anchor, const yaml_char_t *tag)
{
	const char *guest = p->guest;
	char name[CONFIG_MAX_SCALAR + 1]; /* a guest's name as handle_guest() keeps it: a cut one ends in "..." */
	struct mark m;

	if (!anchor && !tag)
		return; /* every event asks: the usual answer first */
	m = ev_mark(p);
	if (p->at_name && p->ev.type == YAML_SCALAR_EVENT) {
		/* on a guest's name: the error is that guest's, as one on its value */
		if (p->ev.data.scalar.length > CONFIG_MAX_SCALAR) {
			size_t n = cut_length(p->ev.data.scalar.value);

			memcpy(name, p->ev.data.scalar.value, n);
			memcpy(name + n, "...", 4);
		} else
			snprintf(name, sizeof(name), "%s", scalar_value(p));
		p->guest = name;
	}

	if (anchor && p->value_of) {
		/* on a guest's own value: the error is that guest's, which is dropped (as for an alias) */
		_cleanup_free_ char *q = quote((const char *)anchor);
		const char *was = p->guest;
		char g[QUOTE_MAX];

		p->guest = p->value_of; /* the diagnostic's guest (--json "guest") */
		error_at(p, &m, "guest %s: anchors are not supported (anchor %s)", quote_into(g, p->value_of), q);
		p->guest = was;
		p->value_anchored = true;
	} else if (anchor) {
		_cleanup_free_ char *q = quote((const char *)anchor);
		char g[QUOTE_MAX + 8];

		error_at(p, &m, "%sanchors are not supported (anchor %s)", in_owner(p, g), q);
	}
	if (tag) {
		/* libyaml resolves "!!int" to the full tag: show it the way it was written */
		static const char core[] = "tag:yaml.org,2002:";
		const char *t = (const char *)tag;
		_cleanup_free_ char *short_tag = strncmp(t, core, strlen(core)) ? xstrdup(t) :
							  xasprintf("!!%s", t + strlen(core));
		_cleanup_free_ char *q = quote(short_tag);
		const char *was = p->guest;
		char g[QUOTE_MAX + 8];

		if (p->value_of) /* on a guest's own value: that guest's (as an anchor there) */
			p->guest = p->value_of;
		error_at(p, &m, "%sYAML tags are not supported (tag %s)", in_owner(p, g), q);
		p->guest = was;
	}
	p->guest = guest;
}

/* Forget this file's diagnostics at or after m. */
static void drop_diags_after(struct parser *p, const struct mark *m)
{
	struct diag_list *l = p->diags;
	size_t k = p->first_diag;

	for (size_t i = p->first_diag; i < l->n; i++) {
		struct diag *d = &l->items[i];

		if (d->mark.file == p->file &&
		    (d->mark.line > m->line || (d->mark.line == m->line && d->mark.col >= m->col))) {
			free(d->guest);
			free(d->message);
			continue;
		}
		l->items[k++] = *d;
	}
	l->n = k;
}

/* Up to n bytes of the input from offset into out; how many (0 at the end or on an error). */
static size_t input_read(const struct parser *p, size_t offset, char *out, size_t n)
{
	ssize_t k;

	if (p->fd < 0) {
		if (!p->buf || offset >= p->len)
			return 0;
		n = n < p->len - offset ? n : p->len - offset;
		memcpy(out, p->buf + offset, n);
		return n;
	}
	do
		k = pread(p->fd, out, n, (off_t)offset);
	while (k < 0 && errno == EINTR);
	return k > 0 ? (size_t)k : 0;
}

/* libyaml's input when it is a file: plain reads, at most CONFIG_MAX_FILE_SIZE bytes in all. */
static int read_input(void *data, unsigned char *buffer, size_t size, size_t *size_read)
{
	struct parser *p = data;
	ssize_t k;

	do
		k = read(p->fd, buffer, size);
	while (k < 0 && errno == EINTR);
	if (k < 0) {
		p->input_error = errno;
		return 0;
	}
	p->n_read += (size_t)k;
	if (p->n_read > CONFIG_MAX_FILE_SIZE) {
		p->input_error = EFBIG; /* it grew after fstat() */
		return 0;
	}
	*size_read = (size_t)k;
	return 1;
}

/* The 1-based line and column (in characters) of a byte offset into the input. */
static struct mark offset_mark(const struct parser *p, size_t offset)
{
	struct mark m = { .file = p->file, .line = 1, .col = 1 };
	char chunk[4096];
	size_t n;

	for (size_t at = 0; at < offset && (n = input_read(p, at, chunk, sizeof(chunk))) > 0; at += n) {
		for (size_t i = 0; i < n && at + i < offset; i++) {
			unsigned char c = (unsigned char)chunk[i];

			if (c == '\n') {
				m.line++;
				m.col = 1;
			} else if ((c & 0xc0) != 0x80) {
				m.col++;
			}
		}
	}
	return m;
}

/*
 * Where the bad UTF-8 sequence that libyaml reports at offset starts.
 * libyaml names a bad trailing byte by its own offset and value ("# caf\xe9"
 * then a newline: the newline, one column late); the byte to fix is the
 * lead byte before it.  That is the nearest byte before offset, at most 3
 * back, that starts a sequence long enough to reach offset, with only
 * trailing bytes between.  Otherwise (a bad lead byte, a sequence cut off
 * by the end of the file) the sequence starts at offset.
 */
static size_t utf8_error_start(const struct parser *p, size_t offset)
{
	unsigned char b[4];
	size_t from = offset < 3 ? 0 : offset - 3, n;

	n = input_read(p, from, (char *)b, offset - from);
	for (size_t j = 1; j <= n; j++) {
		unsigned char c = b[n - j];
		size_t width = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;

		if ((c & 0xc0) == 0x80)
			continue; /* a trailing byte: the lead is further back */
		return width > j ? offset - j : offset;
	}
	return offset;
}

/*
 * Advance to the next event.  Anchors, tags and aliases are reported here,
 * once per node, whatever the node's place in the grammar.  Returns
 * -EINVAL after a syntax error (reported once).
 */
static int next_event(struct parser *p)
{
	if (p->have_ev) {
		yaml_event_delete(&p->ev);
		p->have_ev = false;
	}
	if (p->broken)
		return -EINVAL;
	if (!yaml_parser_parse(&p->yp, &p->ev)) {
		struct mark m = mark_of(p, &p->yp.problem_mark);
		char at_char = 0;
		const char *hint;

		(void)input_read(p, p->yp.problem_mark.index, &at_char, 1);
		hint = at_char == '\t' ? "; YAML does not allow tabs for indentation" : "";
		p->broken = true;
		if (p->input_error == EFBIG) {
			error_at(p, NULL, "%s: larger than %d bytes (1 MiB), the limit for one file", p->file,
				 CONFIG_MAX_FILE_SIZE);
		} else if (p->input_error) {
			error_at(p, NULL, "cannot read %s: %s", p->file, strerror(p->input_error));
		} else if (p->yp.error == YAML_MEMORY_ERROR) {
			error_at(p, &m, "out of memory while parsing YAML");
		} else if (p->yp.error == YAML_READER_ERROR && p->yp.problem && strstr(p->yp.problem, "UTF-8") &&
			   !strstr(p->yp.problem, "UTF-16")) {
			/* bytes that are not UTF-8: where the bad sequence starts and its first byte */
			unsigned char byte = 0, bom[2] = { 0, 0 };
			size_t at = utf8_error_start(p, p->yp.problem_offset);
			bool utf16;

			m = offset_mark(p, at);
			(void)input_read(p, at, (char *)&byte, 1);
			/* a UTF-16 byte order mark, which libyaml would follow if let */
			utf16 = at == 0 && input_read(p, 0, (char *)bom, 2) == 2 &&
				((bom[0] == 0xff && bom[1] == 0xfe) || (bom[0] == 0xfe && bom[1] == 0xff));
			error_at(p, &m, "invalid UTF-8 at byte 0x%02X; a configuration file is UTF-8 text (%s)", byte,
				 utf16 ? "this one starts as UTF-16 does: iconv -f utf16 -t utf8"
				       : "if it is Latin-1: iconv -f latin1 -t utf8");
		} else if (p->yp.error == YAML_READER_ERROR) {
			/* the reader gives a byte offset, not a mark */
			unsigned char byte;
			int value = p->yp.problem_value;

			m = offset_mark(p, p->yp.problem_offset);
			/* -1: an incomplete sequence, which starts at the offset; name its first byte */
			if (value < 0 && input_read(p, p->yp.problem_offset, (char *)&byte, 1) == 1)
				value = byte;
			if (value < 0)
				error_at(p, &m, "%s; a configuration file is UTF-8 text",
					 p->yp.problem ? p->yp.problem : "invalid input");
			else
				error_at(p, &m, "%s (0x%02X); a configuration file is UTF-8 text",
					 p->yp.problem ? p->yp.problem : "invalid input", (unsigned)value);
		} else if (p->yp.context) {
			struct mark c = mark_of(p, &p->yp.context_mark);

			/*
			 * libyaml hands out the scalars of a broken construct before it
			 * notices the problem ("[0x04" runs on into the next line): what
			 * was said about them since the construct began is noise.
			 */
			drop_diags_after(p, &c);
			error_at(p, &m, "YAML syntax error: %s (%s at %u:%u)%s", p->yp.problem ? p->yp.problem : "?",
				 p->yp.context, c.line, c.col, hint);
		} else {
			error_at(p, &m, "YAML syntax error: %s%s", p->yp.problem ? p->yp.problem : "?", hint);
		}
		return -EINVAL;
	}
	p->have_ev = true;

	p->scalar_cut = false;
	switch (p->ev.type) {
	case YAML_SCALAR_EVENT: {
		size_t len = p->ev.data.scalar.length;

		check_anchor_tag(p, p->ev.data.scalar.anchor, p->ev.data.scalar.tag);
		if (strlen(scalar_value(p)) != len) {
			struct mark m = ev_mark(p);
			error_at(p, &m, "NUL character inside a scalar");
			/* continue with the text up to the NUL: the error is recorded */
		}
		if (len > CONFIG_MAX_SCALAR) {
			struct mark m = ev_mark(p);
			size_t n = cut_length(p->ev.data.scalar.value);
			const char *was = p->guest;
			char g[QUOTE_MAX + 8], name[CONFIG_MAX_SCALAR + 1];

			if (p->at_name) {
				/* a guest's name: the guest it makes, as handle_guest() keeps it ("NAME...") */
				memcpy(name, p->ev.data.scalar.value, n);
				memcpy(name + n, "...", 4);
				p->guest = name;
			}
			error_at(p, &m, "%sa key or value of %zu bytes; the limit is %d", in_owner(p, g), len,
				 CONFIG_MAX_SCALAR);
			p->guest = was;
			/*
			 * Go on with the first 64 bytes (whole UTF-8 characters): no
			 * later message quotes the long text, and a name that long is
			 * not reported a second time.
			 */
			p->ev.data.scalar.value[n] = '\0';
			p->ev.data.scalar.length = n;
			p->scalar_cut = true;
		}
		break;
	}
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		if (p->ev.type == YAML_SEQUENCE_START_EVENT)
			check_anchor_tag(p, p->ev.data.sequence_start.anchor, p->ev.data.sequence_start.tag);
		else
			check_anchor_tag(p, p->ev.data.mapping_start.anchor, p->ev.data.mapping_start.tag);
		if (++p->depth > CONFIG_MAX_DEPTH) {
			struct mark m = ev_mark(p);

			error_at(p, &m, "nested deeper than %d levels; an apmatrix configuration needs 4",
				 CONFIG_MAX_DEPTH);
			p->broken = true;
			return -EINVAL;
		}
		break;
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		p->depth--;
		break;
	case YAML_ALIAS_EVENT: {
		struct mark m = ev_mark(p);
		_cleanup_free_ char *q = quote((const char *)p->ev.data.alias.anchor);
		const char *was = p->guest;
		char g[QUOTE_MAX + 8]; /* in_owner() or quote_into() */

		if (!p->value_of) {
			error_at(p, &m, "%saliases are not supported (alias %s)", in_owner(p, g), q);
			break;
		}
		/* a whole guest given as an alias: the error is that guest's, which is dropped */
		p->guest = p->value_of; /* the diagnostic's guest (--json "guest") */
		error_at(p, &m, "guest %s: aliases are not supported (alias %s)", quote_into(g, p->value_of), q);
		p->guest = was;
		break;
	}
	default:
		break;
	}
	return 0;
}

/* Consume the node that starts at the current event. */
static int skip_node(struct parser *p)
{
	int depth = 0;

	for (;;) {
		switch (p->ev.type) {
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			depth++;
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		default:
			break;
		}
		if (depth <= 0)
			return 0;
		if (next_event(p) < 0)
			return -EINVAL;
	}
}

/* At a key (the current event): consume the value that follows it, which goes unread. */
static int skip_value(struct parser *p)
{
	int r = next_event(p);

	return r < 0 ? r : skip_node(p);
}

static bool node_matches(const struct parser *p, enum node_type t)
{
	switch (t) {
	case NODE_SCALAR:
		return p->ev.type == YAML_SCALAR_EVENT && !scalar_is_null(p);
	case NODE_SEQUENCE:
		/* null is let through: the handler says what an empty list means */
		return p->ev.type == YAML_SEQUENCE_START_EVENT || scalar_is_null(p);
	case NODE_MAPPING:
		/* null is an empty mapping */
		return p->ev.type == YAML_MAPPING_START_EVENT || scalar_is_null(p);
	}
	return false;
}

/* The valid key closest to key, when it is close enough to be a typo. */
static const char *nearest_key(const char *key, const struct key_entry *table, size_t n_table)
{
	const char *best = NULL;
	size_t best_d = 3; /* at most two edits */

	for (size_t i = 0; i < n_table; i++) {
		size_t d = edit_distance(key, table[i].key);

		if (d < best_d) {
			best_d = d;
			best = table[i].key;
		}
	}
	return best;
}

struct seen_key {
	char *key;
	struct mark mark;
};

/*
 * The keys of one mapping seen so far, with a hash index (slot = key number
 * + 1, 0 = empty) so that a mapping of 10,000 guests is not a quadratic
 * scan for duplicates.
 */
struct seen_set {
	struct seen_key *keys;
	size_t n, cap;
	struct str_index index;
};

static const char *seen_key_of(const void *items, size_t k)
{
	return ((const struct seen_key *)items)[k].key;
}

static struct seen_key *seen_find(const struct seen_set *set, const char *key)
{
	long k = str_index_find(&set->index, key, seen_key_of, set->keys);

	return k < 0 ? NULL : &set->keys[k];
}

/* Add a copy of key, made in the config's arena; returns the copy. */
static const char *seen_add(struct seen_set *set, struct arena *a, const char *key, const struct mark *m)
{
	set->keys = xgrow_raw(set->keys, &set->cap, set->n + 1, sizeof(*set->keys));
	set->keys[set->n] = (struct seen_key){ .key = arena_strdup(a, key), .mark = *m };
	str_index_add(&set->index, set->n, seen_key_of, set->keys);
	return set->keys[set->n++].key;
}

static void seen_done(struct seen_set *set)
{
	free(set->keys); /* the keys themselves are in the config's arena */
	str_index_done(&set->index);
}

/*
 * How messages about anchors, aliases and tags on e's value, or inside
 * it, name their place: "version", "host", "host.keep", "host.masks",
 * "guests"; NULL for the others (a guest's are named by the guest, set
 * by handle_guest() and check_anchor_tag(), an unknown key's at the top
 * level not at all).
 */
static const char *value_owner(const struct key_entry *e)
{
	if (e->handler == handle_version)
		return "version";
	if (e->handler == handle_guests)
		return "guests";
	if (e->handler == handle_host)
		return "host";
	if (e->handler == handle_keep)
		return "host.keep";
	if (e->handler == handle_masks)
		return "host.masks";
	return NULL;
}

/*
 * The current event starts a mapping (or is a null scalar, an empty
 * mapping).  Consume it, dispatching every value to its table entry, or to
 * any when the keys are names.
 */
static int process_mapping(struct parser *p, const struct map_ctx *ctx, const struct key_entry *table,
			   size_t n_table, any_key_handler any, void *data)
{
	struct seen_set seen = {}; /* names, and keys not in the table */
	struct mark table_seen[8] = { { 0 } }; /* where each table key was first given (line 0: not yet) */
	const char *owner = p->owner; /* this mapping's, for its keys (a value may name its own) */
	int r = 0;

	assert(n_table <= ARRAY_SIZE(table_seen));
	if (p->ev.type == YAML_SCALAR_EVENT)
		return 0;

	for (;;) {
		const struct key_entry *e = NULL;
		const struct mark *first_seen;
		struct mark km;
		const char *key;
		size_t i;

		p->owner = owner;
		p->at_name = any != NULL; /* a guest's name: named as the guest (check_anchor_tag()) */
		r = next_event(p);
		p->at_name = false;
		if (r < 0)
			break;
		if (p->ev.type == YAML_MAPPING_END_EVENT)
			break;

		km = ev_mark(p);
		if (p->ev.type != YAML_SCALAR_EVENT) {
			_cleanup_free_ char *where = ctx_label(ctx);
			if (p->ev.type != YAML_ALIAS_EVENT)
				error_at(p, &km, "%smapping keys must be scalars", where);
			r = skip_node(p); /* the key */
			if (r >= 0)
				r = skip_value(p);
			if (r < 0)
				break;
			continue;
		}

		key = scalar_value(p);
		if (p->scalar_cut && !any) {
			/* reported as too long; no key of a table is: no "unknown key" on top */
			p->unknown_key = true;
			r = skip_value(p);
			if (r < 0)
				break;
			continue;
		}
		if (any) {
			/* names: the handler finds repeats (a guest index serves all files) */
			r = any(p, key, &km, data);
			if (r < 0)
				break;
			continue;
		}
		for (i = 0; i < n_table && !e; i++)
			if (streq(table[i].key, key))
				e = &table[i];
		/* a key of the table is remembered by its slot, any other by a copy */
		if (e)
			first_seen = table_seen[e - table].line ? &table_seen[e - table] : NULL;
		else {
			const struct seen_key *sk = seen_find(&seen, key);

			first_seen = sk ? &sk->mark : NULL;
		}
		if (first_seen) {
			_cleanup_free_ char *label = key_label(ctx, key), *first = mark_string(first_seen);

			error_at(p, &km, "%s: duplicate key (first at %s)", label, first);
			r = skip_value(p);
			if (r < 0)
				break;
			continue;
		}
		if (e) {
			table_seen[e - table] = km;
			key = e->key; /* the event's text goes with the next event */
			if (!ctx->label && streq(key, "version"))
				p->saw_version = true; /* given, if maybe without a usable value */
		} else
			key = seen_add(&seen, &p->cfg->arena, key, &km);

		if (!e) {
			_cleanup_free_ char *where = ctx_label(ctx), *q = quote(key), *valid = NULL;
			size_t len = 0;
			FILE *f = open_memstream(&valid, &len);

			if (f) {
				for (i = 0; i < n_table; i++)
					fprintf(f, "%s%s", i ? ", " : "", table[i].key);
				fclose(f);
			}
			const char *near = nearest_key(key, table, n_table);
			_cleanup_free_ char *mean = near ? xasprintf("; did you mean '%s'?", near) : xstrdup("");

			p->unknown_key = true;
			error_at(p, &km, "%sunknown key %s%s (valid keys: %s)", where, q, mean, valid ? valid : "?");
			r = skip_value(p);
			if (r < 0)
				break;
			continue;
		}

		/* an anchor, alias or tag on a host setting's value, or inside it: "host: ", "host.masks: " */
		if (value_owner(e))
			p->owner = value_owner(e);
		r = next_event(p);
		if (r < 0)
			break;
		if (e->noun && (p->ev.type == YAML_ALIAS_EVENT || !node_matches(p, e->type))) {
			/* a number list was given, if badly: no "missing adapters" on top */
			struct config_list *l = (struct config_list *)((char *)data + e->offset);
			l->present = true;
			l->mark = km;
		}
		if (p->ev.type == YAML_ALIAS_EVENT)
			continue; /* reported by next_event() */
		if (!node_matches(p, e->type)) {
			_cleanup_free_ char *label = key_label(ctx, key), *got = node_kind(p);
			struct mark vm = ev_mark(p);

			error_at(p, &vm, "%s: expected %s, got %s", label, node_type_name(e->type), got);
			r = skip_node(p);
			if (r < 0)
				break;
			continue;
		}
		if (p->ev.type == YAML_SCALAR_EVENT && p->scalar_cut)
			continue; /* reported as too long: no second message about its first 64 bytes */
		r = e->handler(p, e, &km, data);
		if (r < 0)
			break;
	}

	p->owner = owner;
	seen_done(&seen);
	return r;
}

/* ---- numbers ---- */

/* "a" or "an" before noun ("an adapter", "a domain", "a control domain"). */
static const char *article(const char *noun)
{
	return noun[0] && strchr("aeiouAEIOU", noun[0]) ? "an" : "a";
}

/*
 * Parse one number as written, "47", "0x47".  On failure return a
 * description of the problem that starts with the quoted token.
 */
static int parse_number(const char *t, bool plain, unsigned *ret, char **ret_problem)
{
	char q[QUOTE_MAX]; /* t quoted, made only for a message */
	unsigned long v = 0;
	const char *d;

	if (!*t) {
		*ret_problem = xstrdup("is empty; expected a number such as 0x05");
		return -EINVAL;
	}
	if (t[0] == '-' && t[1] >= '0' && t[1] <= '9') {
		*ret_problem = xasprintf("%s is negative; numbers are 0x00-0xff", quote_into(q, t));
		return -EINVAL;
	}
	if (t[0] == '0' && t[1] == 'x') {
		d = t + 2;
		if (!*d) {
			*ret_problem = xasprintf("%s has no hex digits after 0x", quote_into(q, t));
			return -EINVAL;
		}
		for (const char *c = d; *c; c++) {
			int x = hex_value(*c);

			if (x < 0) {
				*ret_problem = xasprintf("%s is not a number; write decimal (71) or 0x hex (0x47)",
							 quote_into(q, t));
				return -EINVAL;
			}
			if (v <= 0xff)
				v = v * 16 + (unsigned)x;
		}
	} else if (t[0] >= '0' && t[0] <= '9' && strspn(t, "0123456789") == strlen(t)) {
		if (t[0] == '0' && t[1]) {
			/*
			 * YAML 1.1 reads 047 as octal 39 and so does the kernel's
			 * kstrtou*(…, 0), while lszcrypt prints 0047 meaning hex.
			 */
			const char *s = t + strspn(t, "0");
			bool octal = strspn(t, "01234567") == strlen(t);
			unsigned long hex = strtoul(*s ? s : "0", NULL, 16), dec = strtoul(*s ? s : "0", NULL, 10);
			_cleanup_free_ char *oct = octal ? xasprintf(" (%lu)", strtoul(t, NULL, 8)) : xstrdup("");
			_cleanup_free_ char *hint = NULL;

			if (strlen(s) > 3)
				hint = xstrdup("");
			else if (!*s)
				hint = xstrdup("; did you mean 0?");
			else if (hex == dec)
				hint = xasprintf("; did you mean %s?", s);
			else if (hex <= 0xff && dec <= 0xff)
				hint = xasprintf("; did you mean 0x%s or %s?", s, s);
			else if (hex <= 0xff)
				hint = xasprintf("; did you mean 0x%s?", s);
			else
				hint = xstrdup("");
			*ret_problem = xasprintf("%s has a leading zero, which YAML 1.1 and the kernel read as octal%s%s",
						 quote_into(q, t), oct, hint);
			return -EINVAL;
		}
		for (const char *c = t; *c; c++)
			if (v <= 0xff)
				v = v * 10 + (unsigned)(*c - '0');
	} else {
		char *end = NULL;

		if (plain && word_is_bool(t)) {
			*ret_problem = xasprintf("%s is a boolean, not a number", quote_into(q, t));
			return -EINVAL;
		}
		(void)strtod(t, &end); /* only to recognise floats for a better message */
		if ((end && !*end && strpbrk(t, ".eE")) || strstr(t, ".inf") || strstr(t, ".nan") ||
		    strstr(t, ".Inf") || strstr(t, ".NaN") || strstr(t, ".INF") || strstr(t, ".NAN")) {
			*ret_problem = xasprintf("%s is not an integer", quote_into(q, t));
			return -EINVAL;
		}
		*ret_problem = xasprintf("%s is not a number; write decimal (71) or 0x hex (0x47)", quote_into(q, t));
		return -EINVAL;
	}
	if (v > 0xff) {
		*ret_problem = xasprintf("%s out of range 0x00-0xff", quote_into(q, t));
		return -EINVAL;
	}
	*ret = (unsigned)v;
	return 0;
}

static char *trim(const char *s, size_t n)
{
	while (n && (*s == ' ' || *s == '\t'))
		s++, n--;
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	return strndup(s, n) ?: xstrdup("");
}

/* An unquoted 0x04-0x07: both sides are numbers. */
static bool looks_like_range(const char *v, const char *dash)
{
	_cleanup_free_ char *a = trim(v, (size_t)(dash - v)), *b = trim(dash + 1, strlen(dash + 1));
	_cleanup_free_ char *pa = NULL, *pb = NULL;
	unsigned x;

	return parse_number(a, false, &x, &pa) == 0 && parse_number(b, false, &x, &pb) == 0;
}

/*
 * The current event is a list entry.  Parse it into *ret; report and return
 * -EINVAL (without consuming more events) when it is not a valid entry.
 * noun: "adapter", "domain", ...
 */
static int parse_item(struct parser *p, const char *noun, struct config_item *ret)
{
	struct mark m = ev_mark(p);
	_cleanup_free_ char *problem = NULL;
	const char *v, *dash;
	unsigned lo, hi;

	if (p->ev.type == YAML_ALIAS_EVENT)
		return -EINVAL;
	if (p->ev.type != YAML_SCALAR_EVENT) {
		_cleanup_free_ char *got = node_kind(p);
		error_at(p, &m, "%s: expected %s %s (a number or a \"LOW-HIGH\" range), got %s", owner_of(p),
			 article(noun), noun, got);
		return -EINVAL;
	}
	if (p->scalar_cut)
		return -EINVAL; /* reported as too long */
	v = scalar_value(p);
	if (scalar_is_null(p)) {
		error_at(p, &m, "%s: empty %s entry; expected a number such as 0x05", owner_of(p), noun);
		return -EINVAL;
	}

	/*
	 * A leading dash with something right after it is a minus sign ("-5",
	 * " -5": negative); alone or before a blank ("-", "- 5") it is a range
	 * with no lower end.
	 */
	dash = v + strspn(v, " \t");
	dash = strchr(dash + (dash[0] == '-' && dash[1] && dash[1] != ' ' && dash[1] != '\t'), '-');
	if (scalar_is_plain(p)) {
		if (dash && looks_like_range(v, dash)) {
			_cleanup_free_ char *q = quote(v);
			error_at(p, &m, "%s: %s range %s must be quoted: \"%s\"", owner_of(p), noun, q, v);
			return -EINVAL;
		}
		if (parse_number(v, true, &lo, &problem) < 0) {
			error_at(p, &m, "%s: %s %s", owner_of(p), noun, problem);
			return -EINVAL;
		}
		*ret = (struct config_item){ .lo = lo, .hi = lo, .mark = m };
		return 0;
	}

	/* quoted: "LOW-HIGH", or one number */
	_cleanup_free_ char *q = quote(v);
	_cleanup_free_ char *a = NULL, *b = NULL;

	if (!dash) {
		a = trim(v, strlen(v));
		if (parse_number(a, false, &lo, &problem) < 0) {
			error_at(p, &m, "%s: %s %s", owner_of(p), noun, problem);
			return -EINVAL;
		}
		*ret = (struct config_item){ .lo = lo, .hi = lo, .mark = m };
		return 0;
	}
	if (strchr(dash + 1, '-')) {
		error_at(p, &m, "%s: %s range %s must be LOW-HIGH, such as \"0x04-0x07\"", owner_of(p), noun, q);
		return -EINVAL;
	}
	a = trim(v, (size_t)(dash - v));
	b = trim(dash + 1, strlen(dash + 1));
	if (!*a || !*b) {
		error_at(p, &m, "%s: %s range %s has no %s end; write LOW-HIGH, such as \"0x04-0x07\"", owner_of(p),
			 noun, q, *a ? "upper" : "lower");
		return -EINVAL;
	}
	if (parse_number(a, false, &lo, &problem) < 0) {
		error_at(p, &m, "%s: %s range %s: %s", owner_of(p), noun, q, problem);
		return -EINVAL;
	}
	if (parse_number(b, false, &hi, &problem) < 0) {
		error_at(p, &m, "%s: %s range %s: %s", owner_of(p), noun, q, problem);
		return -EINVAL;
	}
	if (lo > hi) {
		error_at(p, &m, "%s: %s range %s is reversed; write \"%s-%s\"", owner_of(p), noun, q, b, a);
		return -EINVAL;
	}
	*ret = (struct config_item){ .lo = lo, .hi = hi, .mark = m };
	return 0;
}

/* ---- handlers ---- */

/*
 * A number list.  null and [] are empty lists: refused for adapters, domains
 * and host.keep (an empty host.keep.adapters could be read as "no adapter"
 * or as "every adapter"), fine for control-domains (nothing extra).
 */
static int handle_list(struct parser *p, const struct key_entry *e,
			const struct mark *key_mark, void *data)
{
	struct config_list *l = (struct config_list *)((char *)data + e->offset);
	bool empty_ok = streq(e->key, "control-domains");
	struct mark vm = ev_mark(p);
	struct config_item items[CONFIG_MAX_LIST]; /* then kept in an allocation of the list's size */
	size_t entries = 0, n = 0;
	int r = 0;

	l->present = true;
	l->mark = *key_mark;
	if (scalar_is_null(p)) {
		if (!empty_ok)
			error_at(p, &vm, "%s: %s has no value; expected a list such as [0x05, 0x06]", owner_of(p),
				 e->key);
		return 0;
	}
	for (;;) {
		struct config_item it;

		r = next_event(p);
		if (r < 0)
			break;
		if (p->ev.type == YAML_SEQUENCE_END_EVENT)
			break;
		entries++;
		if (entries > CONFIG_MAX_LIST || p->cfg->n_entries >= CONFIG_MAX_ENTRIES) {
			/* report once, then only consume the rest of the list */
			if (entries == CONFIG_MAX_LIST + 1) {
				struct mark m = ev_mark(p);
				error_at(p, &m, "%s: %s has more than %d entries; there are only 256 %ss, "
						"give ranges such as \"0x00-0xff\"", owner_of(p), e->key, CONFIG_MAX_LIST, e->noun);
			} else if (p->cfg->n_entries == CONFIG_MAX_ENTRIES) {
				struct mark m = ev_mark(p);
				error_at(p, &m, "%s: more than %d list entries in the configuration; the limit is %d",
					 owner_of(p), CONFIG_MAX_ENTRIES, CONFIG_MAX_ENTRIES);
				p->cfg->n_entries++; /* reported */
			}
			r = skip_node(p);
			if (r < 0)
				break;
			continue;
		}
		p->cfg->n_entries++;
		if (parse_item(p, e->noun, &it) < 0) {
			r = skip_node(p);
			if (r < 0)
				break;
			continue;
		}
		items[n++] = it;
	}
	if (n) {
		l->items = memcpy(arena_alloc(&p->cfg->arena, n * sizeof(*l->items)), items, n * sizeof(*l->items));
		l->n = l->cap = n;
	}
	if (r < 0)
		return r;
	/* only a flow sequence can be empty: "[]" */
	if (!empty_ok && entries == 0)
		error_at(p, &vm, "%s: %s is an empty list; list at least one %s or remove the key", owner_of(p), e->key,
			 e->noun);
	return 0;
}

static int handle_version(struct parser *p, const struct key_entry *e _unused_,
			const struct mark *key_mark _unused_, void *data _unused_)
{
	struct mark m = ev_mark(p);
	const char *v = scalar_value(p);

	p->saw_version = true;
	if (!scalar_is_plain(p) || !streq(v, "1")) {
		_cleanup_free_ char *q = quote(v);
		error_at(p, &m, "version: unsupported version %s%s; this apmatrix reads version: 1", q,
			 scalar_is_plain(p) ? "" : " (a quoted string)");
		return 0;
	}
	if (!p->cfg->version) {
		p->cfg->version = 1;
		p->cfg->version_mark = m;
	}
	return 0;
}

static int handle_masks(struct parser *p, const struct key_entry *e _unused_,
			const struct mark *key_mark _unused_, void *data)
{
	struct config *cfg = data;
	struct mark m = ev_mark(p);
	const char *v = scalar_value(p);

	for (int i = 0; i < _CONFIG_MASKS_MAX; i++)
		if (streq(v, masks_table[i])) {
			cfg->masks = (enum config_masks)i;
			cfg->masks_mark = m;
			return 0;
		}
	_cleanup_free_ char *q = quote(v);
	error_at(p, &m, "host.masks: expected 'auto' or 'off', got %s", q);
	return 0;
}

static const struct key_entry keep_keys[] = {
	{ "adapters", NODE_SEQUENCE, handle_list, offsetof(struct config, keep_adapters), "adapter" },
	{ "domains", NODE_SEQUENCE, handle_list, offsetof(struct config, keep_domains), "domain" },
};

static int handle_keep(struct parser *p, const struct key_entry *e _unused_,
			const struct mark *key_mark, void *data)
{
	struct config *cfg = data;
	const struct map_ctx ctx = { .label = "host.keep" };
	const char *was = p->owner;
	int r;

	cfg->keep_present = true;
	cfg->keep_mark = *key_mark;
	p->owner = "host.keep";
	p->guest = NULL;
	p->unknown_key = false;
	r = process_mapping(p, &ctx, keep_keys, ARRAY_SIZE(keep_keys), NULL, data);
	p->owner = was; /* what follows (host.masks) is not inside host.keep */
	if (r < 0)
		return r;
	/* with a key we do not know (a typo of "domains"?), what is "missing" may be there */
	if (!p->unknown_key && !cfg->keep_adapters.present && !cfg->keep_domains.present)
		error_at(p, key_mark, "host.keep: no adapters and no domains given; list what the host keeps "
				      "or remove the key");
	return 0;
}

static const struct key_entry host_keys[] = {
	{ "keep", NODE_MAPPING, handle_keep, 0, NULL },
	{ "masks", NODE_SCALAR, handle_masks, 0, NULL },
};

static int handle_host(struct parser *p, const struct key_entry *e _unused_,
			const struct mark *key_mark, void *data)
{
	struct config *cfg = data;
	const struct map_ctx ctx = { .label = "host" };

	if (cfg->host_present) {
		/* host may be given in one file only: skip the second one whole */
		_cleanup_free_ char *first = mark_string(&cfg->host_mark);
		error_at(p, key_mark, "host: already given at %s; give host settings in one file only", first);
		return skip_node(p);
	}
	cfg->host_present = true;
	cfg->host_mark = *key_mark;
	/* allowed (one file holds host:, whichever), but a team's drop-in then sets what all guests get */
	if (!p->is_main)
		warning_at(p, key_mark, "host settings in a drop-in apply to the whole host; keep them in %s",
			   cfg->n_files > 1 ? cfg->files[0] : "the main configuration file");
	return process_mapping(p, &ctx, host_keys, ARRAY_SIZE(host_keys), NULL, data);
}

static int handle_uuid(struct parser *p, const struct key_entry *e _unused_,
			const struct mark *key_mark _unused_, void *data)
{
	struct config_guest *g = data;

	/* validated by compile.c, which also derives missing ones */
	g->uuid = arena_strdup(&p->cfg->arena, scalar_value(p));
	g->uuid_mark = ev_mark(p);
	return 0;
}

static int handle_bool(struct parser *p, const struct key_entry *e,
			const struct mark *key_mark _unused_, void *data)
{
	struct config_guest *g = data;
	struct mark m = ev_mark(p);
	const char *v = scalar_value(p);

	/* YAML 1.2 core booleans only: yes/no/on/off are YAML 1.1 surprises */
	if (scalar_is_plain(p) && (streq(v, "true") || streq(v, "True") || streq(v, "TRUE")))
		g->usage_as_control = 1;
	else if (scalar_is_plain(p) && (streq(v, "false") || streq(v, "False") || streq(v, "FALSE")))
		g->usage_as_control = 0;
	else {
		_cleanup_free_ char *q = quote(g->name), *vq = quote(v);
		error_at(p, &m, "guest %s: %s: expected true or false, got %s", q, e->key, vq);
		return 0;
	}
	g->usage_as_control_mark = m;
	return 0;
}

static const struct key_entry guest_keys[] = {
	{ "uuid", NODE_SCALAR, handle_uuid, 0, NULL },
	{ "adapters", NODE_SEQUENCE, handle_list, offsetof(struct config_guest, adapters), "adapter" },
	{ "domains", NODE_SEQUENCE, handle_list, offsetof(struct config_guest, domains), "domain" },
	{ "control-domains", NODE_SEQUENCE, handle_list, offsetof(struct config_guest, control_domains),
	  "control domain" },
	{ "usage-as-control", NODE_SCALAR, handle_bool, 0, NULL },
};

static const char *name_key_of(const void *items, size_t k)
{
	return ((const struct config_name *)items)[k].name;
}

/* The guest of that name in cfg, or NULL; duplicates are found in O(1), not by a scan. */
static const struct config_name *find_guest(const struct config *cfg, const char *name)
{
	long k = str_index_find(&cfg->guest_index, name, name_key_of, cfg->names);

	return k < 0 ? NULL : &cfg->names[k];
}

/*
 * At a guest's key (the current event): read its value.  A name given twice
 * is found here, in this file or an earlier one, through the one index of
 * all guests (cfg->names), not by a second set per mapping.
 */
static int handle_guest(struct parser *p, const char *key, const struct mark *key_mark, void *data)
{
	struct config *cfg = data;
	/*
	 * A name cut to its first bytes (reported as too long) is no guest:
	 * two such names may differ only after the cut.  Its value is read
	 * for its own errors, then dropped.
	 */
	const bool cut = p->scalar_cut;
	const struct config_name *dup = cut ? NULL : find_guest(cfg, key);
	char q[QUOTE_MAX]; /* the name in messages, made only for one */
	struct config_guest g;
	const char *name;
	int r;

	if (dup && dup->mark.file == p->file) {
		_cleanup_free_ char *first = mark_string(&dup->mark);

		p->guest = dup->name; /* the diagnostic's guest (--json "guest"); key goes with the next event */
		error_at(p, key_mark, "guest %s: defined twice (first at %s)", quote_into(q, key), first);
		/* anchors, aliases and tags in the repeat's value are named by the guest, as in any guest's */
		p->owner = NULL;
		r = next_event(p);
		if (r >= 0)
			r = skip_node(p);
		p->guest = NULL;
		return r;
	}
	if (!dup && cfg->n_names >= CONFIG_MAX_GUESTS) {
		/* stop here: the rest of the file is not read; said once, not once per drop-in */
		if (!cfg->too_many_guests) {
			p->guest = key;
			error_at(p, key_mark, "guest %s: more than %d guests; the limit is %d", quote_into(q, key),
				 CONFIG_MAX_GUESTS, CONFIG_MAX_GUESTS);
			p->guest = NULL;
		}
		cfg->too_many_guests = true;
		p->broken = true;
		return -E2BIG;
	}
	if (cut) {
		/* "NAME...": messages about the value show that the name is cut */
		size_t n = strlen(key);
		char *s = arena_alloc(&cfg->arena, n + 4);

		memcpy(s, key, n);
		memcpy(s + n, "...", 4);
		name = s;
	} else
		name = arena_strdup(&cfg->arena, key); /* key goes with the next event */
	if (!dup && !cut) {
		cfg->names = xgrow_raw(cfg->names, &cfg->cap_names, cfg->n_names + 1, sizeof(*cfg->names));
		cfg->names[cfg->n_names] = (struct config_name){ .name = name, .mark = *key_mark };
		str_index_add(&cfg->guest_index, cfg->n_names, name_key_of, cfg->names);
		cfg->n_names++;
	}
	p->value_of = name;
	p->value_anchored = false;
	r = next_event(p);
	p->value_of = NULL;
	if (r < 0)
		return r;
	if (p->ev.type == YAML_ALIAS_EVENT)
		return 0; /* reported by next_event(), naming the guest */
	if (!node_matches(p, NODE_MAPPING)) {
		_cleanup_free_ char *got = node_kind(p);
		struct mark vm = ev_mark(p);

		p->guest = name; /* the diagnostic's guest (--json "guest") */
		error_at(p, &vm, "guest %s: expected a mapping, got %s", quote_into(q, name), got);
		p->guest = NULL;
		return skip_node(p);
	}

	g = (struct config_guest){ .name = (char *)name, .mark = *key_mark, .usage_as_control = -1 };
	p->owner = NULL; /* owner_of(): "guest 'NAME'" */
	p->guest = name;
	p->unknown_key = false;
	r = process_mapping(p, &(const struct map_ctx){ .label = name, .is_guest = true }, guest_keys,
			    ARRAY_SIZE(guest_keys), NULL, &g);
	p->owner = p->guest = NULL;
	/* cut short by a syntax error, or with a key we do not know (a typo of "domains"?) */
	g.incomplete = r < 0 || p->unknown_key;

	if (cut || p->value_anchored)
		return r; /* an anchored value: its error names the guest, which does not compile */
	if (dup) {
		_cleanup_free_ char *first = mark_string(&dup->mark);

		p->guest = name; /* the diagnostic's guest (--json "guest") */
		error_at(p, key_mark, "guest %s: already defined at %s; a guest is defined in one file only",
			 quote_into(q, name), first);
		p->guest = NULL;
		return r;
	}
	if (cfg->take_guest) {
		cfg->take_guest(cfg->take_data, &g);
		return r;
	}
	cfg->guests = xgrow_raw(cfg->guests, &cfg->cap_guests, cfg->n_guests + 1, sizeof(*cfg->guests));
	cfg->guests[cfg->n_guests++] = g;
	return r;
}

static int handle_guests(struct parser *p, const struct key_entry *e _unused_,
			const struct mark *key_mark _unused_, void *data)
{
	const struct map_ctx ctx = { .label = "guests" };

	return process_mapping(p, &ctx, NULL, 0, handle_guest, data);
}

static const struct key_entry top_keys[] = {
	{ "version", NODE_SCALAR, handle_version, 0, NULL },
	{ "host", NODE_MAPPING, handle_host, 0, NULL },
	{ "guests", NODE_MAPPING, handle_guests, 0, NULL },
};

/* ---- documents and files ---- */

/* Parse one stream; is_main: the version key is required. */
static int parse_stream(struct parser *p, bool is_main)
{
	const struct map_ctx top = { 0 };
	const struct mark start = { .file = p->file, .line = 1, .col = 1 };
	int r;

	r = next_event(p); /* STREAM-START */
	if (r >= 0)
		r = next_event(p); /* DOCUMENT-START or STREAM-END */
	if (r >= 0 && p->ev.type == YAML_DOCUMENT_START_EVENT)
		r = next_event(p); /* the root node */
	if (r < 0)
		return r;

	if (p->ev.type == YAML_STREAM_END_EVENT || scalar_is_null(p)) {
		/* only comments, or an empty document */
		if (is_main)
			error_at(p, &start, "empty configuration; expected at least 'version: 1'");
		else
			warning_at(p, &start, "empty drop-in file, ignoring");
		if (p->ev.type == YAML_STREAM_END_EVENT)
			return 0;
	} else if (p->ev.type != YAML_MAPPING_START_EVENT) {
		_cleanup_free_ char *got = node_kind(p);
		struct mark m = ev_mark(p);

		if (p->ev.type != YAML_ALIAS_EVENT)
			error_at(p, &m, "expected a mapping at the top level, got %s", got);
		r = skip_node(p);
		if (r < 0)
			return r;
	} else {
		r = process_mapping(p, &top, top_keys, ARRAY_SIZE(top_keys), NULL, p->cfg);
		if (r < 0)
			return r;
		if (is_main && !p->saw_version)
			error_at(p, &start, "missing 'version: 1' at the top level");
	}

	r = next_event(p); /* DOCUMENT-END */
	if (r >= 0)
		r = next_event(p);
	if (r < 0)
		return r;
	if (p->ev.type == YAML_DOCUMENT_START_EVENT) {
		struct mark m = ev_mark(p);
		error_at(p, &m, "more than one YAML document; a configuration file holds one document");
	}
	return 0;
}

/* Parse the file open at fd, or when fd is -1 buf[len]. */
static int load_input(struct config *cfg, const char *name, const char *buf, size_t len, int fd,
		      struct diag_list *diags, bool is_main)
{
	struct parser p = { .diags = diags, .cfg = cfg, .buf = buf, .len = len, .fd = fd, .first_diag = diags->n,
			    .is_main = is_main };
	int r;

	p.file = diag_intern_file(diags, name);
	if (!yaml_parser_initialize(&p.yp))
		return -ENOMEM;
	/* UTF-8 only (apmatrix.yaml(5)): libyaml would take a UTF-16 file by its byte order mark */
	yaml_parser_set_encoding(&p.yp, YAML_UTF8_ENCODING);
	if (fd < 0)
		yaml_parser_set_input_string(&p.yp, (const unsigned char *)(buf ? buf : ""), buf ? len : 0);
	else
		yaml_parser_set_input(&p.yp, read_input, &p);
	cfg->files = xgrow(cfg->files, &cfg->cap_files, cfg->n_files + 1, sizeof(*cfg->files));
	cfg->files[cfg->n_files++] = (char *)p.file;

	r = parse_stream(&p, is_main);
	if (p.broken)
		cfg->incomplete = true; /* the events after the error were never seen */
	if (p.input_error)
		r = -p.input_error; /* as if the file could not be read at all */

	if (p.have_ev)
		yaml_event_delete(&p.ev);
	yaml_parser_delete(&p.yp);
	return r;
}

int config_load_buffer(struct config *cfg, const char *name, const char *buf, size_t len,
		       struct diag_list *diags)
{
	size_t before = diag_count(diags, DIAG_ERROR);
	int r;

	r = load_input(cfg, name, buf, len, -1, diags, cfg->n_files == 0);
	if (r == -ENOMEM)
		return r;
	return diag_count(diags, DIAG_ERROR) > before ? -EINVAL : 0;
}

/* The kept input named name, or NULL. */
static const struct config_input *kept_input(const struct config_inputs *in, const char *name)
{
	for (size_t i = 0; in && i < in->n; i++)
		if (streq(in->items[i].name, name))
			return &in->items[i];
	return NULL;
}

/* Keep buf[len] (taken) under name. */
static const struct config_input *keep_input(struct config_inputs *in, const char *name, char *buf, size_t len)
{
	in->items = xgrow(in->items, &in->cap, in->n + 1, sizeof(*in->items));
	in->items[in->n] = (struct config_input){ .name = xstrdup(name), .buf = buf, .len = len };
	return &in->items[in->n++];
}

/*
 * Read and parse one file; errors reading it are recorded for the file as a
 * whole (no line).  Files must be trusted regular files (trust.h); stdin is read
 * as it is, but no more than CONFIG_MAX_FILE_SIZE of it either.  A file is
 * parsed as it is read, unless its bytes are to be kept (cfg->inputs).
 */
static int load_file(struct config *cfg, const char *path, struct diag_list *diags, bool is_main)
{
	_cleanup_free_ char *buf = NULL, *why = NULL;
	_cleanup_close_ int fd = -1;
	const struct config_input *kept;
	const char *name = path;
	struct stat st;
	size_t len = 0;
	int r;

	if (streq(path, "-")) {
		name = "<stdin>";
		kept = kept_input(cfg->inputs, name);
		if (kept) /* read before: stdin cannot be read twice */
			return load_input(cfg, name, kept->buf, kept->len, -1, diags, is_main);
		r = read_fd_all(STDIN_FILENO, CONFIG_MAX_FILE_SIZE, false, &buf, &len);
	} else {
		fd = trust_open_file(path, &why);
		if (fd < 0 && why) {
			diag_add_file(diags, DIAG_ERROR, path, NULL, "refused: %s", why);
			return fd;
		}
		if (fd >= 0 && fstat(fd, &st) == 0 && st.st_size > CONFIG_MAX_FILE_SIZE)
			r = -EFBIG;
		else if (fd >= 0 && !cfg->inputs)
			return load_input(cfg, name, NULL, 0, fd, diags, is_main); /* read as it is parsed */
		else if (fd >= 0)
			r = read_fd_all(fd, CONFIG_MAX_FILE_SIZE, false, &buf, &len);
		else
			r = fd;
	}
	if (r == -EFBIG) {
		diag_add_file(diags, DIAG_ERROR, name, NULL, "larger than %d bytes (1 MiB), the limit for one file",
			      CONFIG_MAX_FILE_SIZE);
		return r;
	}
	if (r < 0) {
		/* ls lists the link: "No such file or directory" alone reads as if apmatrix looked elsewhere */
		_cleanup_free_ char *link = (r == -ENOENT || r == -ELOOP) ? symlink_problem(path, r) : NULL;

		diag_add_file(diags, DIAG_ERROR, name, NULL, "cannot read: %s", link ? link : strerror(-r));
		return r;
	}
	if (cfg->inputs) {
		kept = keep_input(cfg->inputs, name, TAKE_PTR(buf), len);
		return load_input(cfg, name, kept->buf, kept->len, -1, diags, is_main);
	}
	return load_input(cfg, name, buf, len, -1, diags, is_main);
}

static void free_names(char ***names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free((*names)[i]);
	free(*names);
	*names = NULL;
}

static char *dropin_path(const char *dir, const char *name)
{
	size_t dl = strlen(dir);

	return xasprintf("%s%s%s", dir, dl && dir[dl - 1] == '/' ? "" : "/", name);
}

/* The length of name without its suffix when it ends in suffix, in any case; else 0. */
static size_t suffix_nocase(const char *name, size_t l, const char *suffix)
{
	size_t sl = strlen(suffix);

	return l > sl && strcasecmp(name + l - sl, suffix) == 0 ? l - sl : 0;
}

/* The length of name (of length l) without .yaml or .yml in any case; 0 if it ends otherwise. */
static size_t yaml_stem(const char *name, size_t l)
{
	return suffix_nocase(name, l, ".yml") ?: suffix_nocase(name, l, ".yaml");
}

/*
 * The names of dir/\*.yaml in byte order, in *ret_names (*ret_n of them); a
 * missing dir is no error.  The directory must be trusted like the files
 * (trust.h), and holds at most CONFIG_MAX_DROPINS of them.  Subdirectories
 * named *.yaml are skipped; any other non-regular file is refused when it
 * is loaded.  Problems are recorded in diags.
 *
 * Only *.yaml is read, as netplan reads only *.yaml and systemd only
 * *.conf: one suffix, so that x.yaml and x.yml are never both in effect.
 * But a drop-in silently not read is a guest silently without its queues,
 * so a name that was surely meant to be read (*.yml, *.YAML) and a
 * directory named *.yaml get a warning.  Hidden files and names with more
 * after the suffix (x.yaml.disabled, x.yaml~, x.yaml.rpmnew) stay quiet:
 * renaming a drop-in so is how one is switched off.
 */
static int list_dropins(const char *dir, char ***ret_names, size_t *ret_n, struct diag_list *diags)
{
	_cleanup_free_ char *why = NULL;
	char **names = NULL, **unread = NULL; /* unread: the names warned about, below */
	size_t n = 0, cap = 0, n_unread = 0, cap_unread = 0;
	struct dirent *de;
	DIR *d;
	int fd, r = 0;

	*ret_names = NULL;
	*ret_n = 0;
	fd = trust_open_dir(dir, &why);
	if (fd == -ENOENT)
		return 0;
	if (fd < 0 && why) {
		diag_add_file(diags, DIAG_ERROR, dir, NULL, "drop-in directory refused: %s", why);
		return fd;
	}
	if (fd < 0 || !(d = fdopendir(fd))) {
		r = fd < 0 ? fd : -errno;
		if (fd >= 0)
			(void)close(fd); /* read-only directory */
		diag_add_file(diags, DIAG_ERROR, dir, NULL, "cannot read the drop-in directory: %s", strerror(-r));
		return r;
	}
	while ((errno = 0, de = readdir(d))) {
		size_t l = strlen(de->d_name);
		size_t stem = yaml_stem(de->d_name, l);
		struct stat st;

		if (de->d_name[0] == '.' || !stem)
			continue;
		if (!streq(de->d_name + stem, ".yaml") ||
		    (fstatat(dirfd(d), de->d_name, &st, 0) == 0 && S_ISDIR(st.st_mode))) {
			if (n_unread < CONFIG_MAX_DROPINS) { /* said in name order, below */
				unread = xgrow(unread, &cap_unread, n_unread + 1, sizeof(*unread));
				unread[n_unread++] = xstrdup(de->d_name);
			}
			continue;
		}
		if (n == CONFIG_MAX_DROPINS) {
			diag_add_file(diags, DIAG_ERROR, dir, NULL,
				      "drop-in directory with more than %d *.yaml files; the limit is %d",
				      CONFIG_MAX_DROPINS, CONFIG_MAX_DROPINS);
			r = -E2BIG;
			break;
		}
		names = xgrow(names, &cap, n + 1, sizeof(*names));
		names[n++] = xstrdup(de->d_name);
	}
	if (errno && r == 0) {
		r = -errno;
		diag_add_file(diags, DIAG_ERROR, dir, NULL, "cannot read the drop-in directory: %s", strerror(-r));
	}
	(void)closedir(d); /* read-only directory stream */
	if (n_unread)
		strv_sort(unread, n_unread);
	strv_sort(names, n);
	/*
	 * Every file named in name order, read or not: diag_sort() puts the
	 * files in the order they were interned, so a warning about 30-c.yml
	 * comes after 20-b.yaml's diagnostics and before 40-d.yaml's.
	 */
	for (size_t i = 0, j = 0; i < n || j < n_unread;) {
		bool is_unread = j < n_unread && (i == n || strcmp(unread[j], names[i]) < 0);
		const char *name = is_unread ? unread[j++] : names[i++];
		_cleanup_free_ char *path = dropin_path(dir, name);
		size_t stem = yaml_stem(name, strlen(name));

		if (!is_unread)
			(void)diag_intern_file(diags, path);
		else if (streq(name + stem, ".yaml")) /* then it is a directory */
			diag_add_file(diags, DIAG_WARNING, path, NULL,
				      "not read: a directory; drop-ins are files ending in .yaml");
		else
			diag_add_file(diags, DIAG_WARNING, path, NULL,
				      "not read: drop-ins end in .yaml (rename it to %.*s.yaml)", (int)stem, name);
	}
	free_names(&unread, n_unread);
	if (r < 0) {
		free_names(&names, n);
		return r;
	}
	*ret_names = names;
	*ret_n = n;
	return 0;
}

/* dir/\*.yaml in byte order of the names (list_dropins()). */
static int load_dropins(struct config *cfg, const char *dir, struct diag_list *diags)
{
	char **names;
	size_t n;
	int r;

	r = list_dropins(dir, &names, &n, diags);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *path = dropin_path(dir, names[i]);

		(void)load_file(cfg, path, diags, /* is_main= */ false); /* recorded in diags */
	}
	free_names(&names, n);
	return 0;
}

void config_keep_inputs(struct config *cfg, struct config_inputs *in)
{
	cfg->inputs = in;
}

/* Whether in's input *k is path, and path still reads as it did; advances *k. */
static bool same_input(const struct config_inputs *in, size_t *k, const char *path)
{
	const struct config_input *it = *k < in->n ? &in->items[(*k)++] : NULL;
	_cleanup_free_ char *buf = NULL, *why = NULL;
	_cleanup_close_ int fd = -1;
	size_t len;

	if (streq(path, "-"))
		return it && streq(it->name, "<stdin>");
	if (!it || !streq(it->name, path))
		return false;
	fd = trust_open_file(path, &why);
	if (fd < 0 || read_fd_all(fd, CONFIG_MAX_FILE_SIZE, false, &buf, &len) < 0)
		return false;
	return len == it->len && memcmp(buf, it->buf, len) == 0;
}

bool config_inputs_same(const struct config_inputs *in, const char *path, const char *dropin_dir)
{
	struct diag_list scratch = {}; /* a problem is reported by the load that follows */
	char **names = NULL;
	size_t n = 0, k = 0;
	bool same;

	same = same_input(in, &k, path);
	if (same && dropin_dir)
		same = list_dropins(dropin_dir, &names, &n, &scratch) == 0;
	for (size_t i = 0; same && i < n; i++) {
		_cleanup_free_ char *p = dropin_path(dropin_dir, names[i]);

		same = same_input(in, &k, p);
	}
	free_names(&names, n);
	diag_list_done(&scratch);
	return same && k == in->n;
}

void config_inputs_done(struct config_inputs *in)
{
	for (size_t i = 0; i < in->n; i++) {
		free(in->items[i].name);
		free(in->items[i].buf);
	}
	free(in->items);
	*in = (struct config_inputs){};
}

struct config *config_new(void)
{
	struct config *c = xcalloc(1, sizeof(*c));

	c->masks = CONFIG_MASKS_AUTO;
	return c;
}

struct config *config_free(struct config *c)
{
	if (!c)
		return NULL;
	free(c->guests);
	free(c->names);
	str_index_done(&c->guest_index);
	arena_free(&c->arena); /* names, UUIDs, lists (unless compile took it) */
	free(c->files); /* the names themselves belong to the diag_list */
	free(c);
	return NULL;
}

int config_load_into(struct config *cfg, const char *path, const char *dropin_dir, struct diag_list *diags)
{
	size_t before = diag_count(diags, DIAG_ERROR);
	int r;

	r = load_file(cfg, path, diags, /* is_main= */ true);
	if (r < 0 && r != -EINVAL)
		return r;
	if (dropin_dir)
		(void)load_dropins(cfg, dropin_dir, diags); /* problems are in diags */
	return diag_count(diags, DIAG_ERROR) > before ? -EINVAL : 0;
}

int config_load(const char *path, const char *dropin_dir, struct config **ret, struct diag_list *diags)
{
	struct config *cfg = config_new();
	int r;

	r = config_load_into(cfg, path, dropin_dir, diags);
	if (r == -ENOMEM) {
		config_free(cfg);
		return r;
	}
	*ret = cfg;
	return r;
}
