/* SPDX-License-Identifier: MIT */
/*
 * tree.c: the in-memory sysfs tree.  Children are kept sorted so that lookups
 * in the big directories (bus/ap/devices on a 64x85 host has 5504 entries)
 * are binary searches.
 */
#include <string.h>

#include "macro.h"
#include "sim.h"

static struct node *node_new(const char *name, enum node_type type)
{
	struct node *n = xcalloc(1, sizeof(*n));

	n->name = xstrdup(name);
	n->type = type;
	return n;
}

struct node *node_new_root(void)
{
	return node_new("", NODE_DIR);
}

/* Index of name in dir, or -(insertion point) - 1. */
static long node_find(const struct node *dir, const char *name)
{
	size_t lo = 0, hi = dir->n_children;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(dir->children[mid]->name, name);
		if (c == 0)
			return (long)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -(long)lo - 1;
}

struct node *node_child(const struct node *dir, const char *name)
{
	long i;

	if (!dir || dir->type != NODE_DIR)
		return NULL;
	i = node_find(dir, name);
	return i >= 0 ? dir->children[i] : NULL;
}

static struct node *node_insert(struct node *dir, struct node *n)
{
	long i = node_find(dir, n->name);
	size_t at;

	if (i >= 0) {
		/* replace: the newer definition wins */
		node_free(dir->children[i]);
		dir->children[i] = n;
		n->parent = dir;
		return n;
	}
	at = (size_t)(-i - 1);
	dir->children = xgrow(dir->children, &dir->cap_children, dir->n_children + 1,
			      sizeof(*dir->children));
	memmove(dir->children + at + 1, dir->children + at,
		(dir->n_children - at) * sizeof(*dir->children));
	dir->children[at] = n;
	dir->n_children++;
	n->parent = dir;
	return n;
}

struct node *node_lookup(struct node *root, const char *path)
{
	_cleanup_free_ char *copy = xstrdup(path);
	struct node *n = root;
	char *save = NULL;

	for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		n = node_child(n, c);
		if (!n)
			return NULL;
	}
	return n;
}

struct node *node_mkdir(struct node *dir, const char *relpath)
{
	_cleanup_free_ char *copy = xstrdup(relpath);
	char *save = NULL;

	for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		struct node *n = node_child(dir, c);
		if (!n)
			n = node_insert(dir, node_new(c, NODE_DIR));
		dir = n;
	}
	return dir;
}

struct node *node_add_file_as(struct node *dir, const char *name, const struct attr *attr, void *obj)
{
	struct node *n = node_new(name, NODE_FILE);

	n->attr = attr;
	n->obj = obj;
	return node_insert(dir, n);
}

struct node *node_add_file(struct node *dir, const struct attr *attr, void *obj)
{
	return node_add_file_as(dir, attr->name, attr, obj);
}

void node_add_files(struct node *dir, const struct attr *attrs, size_t n, void *obj)
{
	for (size_t i = 0; i < n; i++)
		node_add_file(dir, &attrs[i], obj);
}

static unsigned node_depth(const struct node *n)
{
	unsigned d = 0;

	for (; n->parent; n = n->parent)
		d++;
	return d;
}

struct node *node_add_link(struct node *dir, const char *name, const char *to)
{
	struct node *n = node_new(name, NODE_LINK);
	unsigned depth = node_depth(dir);
	size_t len = depth * 3 + strlen(to) + 1;
	char *t = xmalloc(len);

	t[0] = '\0';
	for (unsigned i = 0; i < depth; i++)
		strcat(t, "../");
	strcat(t, to);
	n->target = t;
	return node_insert(dir, n);
}

struct node *node_add_link_raw(struct node *dir, const char *name, const char *target)
{
	struct node *n = node_new(name, NODE_LINK);

	n->target = xstrdup(target);
	return node_insert(dir, n);
}

void node_remove_child(struct node *dir, const char *name)
{
	long i = node_find(dir, name);

	if (i < 0)
		return;
	node_free(dir->children[i]);
	memmove(dir->children + i, dir->children + i + 1,
		(dir->n_children - (size_t)i - 1) * sizeof(*dir->children));
	dir->n_children--;
}

void node_free(struct node *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n_children; i++)
		node_free(n->children[i]);
	free(n->children);
	free(n->name);
	free(n->target);
	free(n);
}

char *node_path(const struct node *n)
{
	size_t len = 0;
	char *p;

	for (const struct node *m = n; m->parent; m = m->parent)
		len += strlen(m->name) + 1;
	if (len == 0)
		return xstrdup("");
	len--; /* n components need n - 1 slashes */
	p = xmalloc(len + 1);
	p[len] = '\0';
	for (const struct node *m = n; m->parent; m = m->parent) {
		size_t l = strlen(m->name);
		len -= l;
		memcpy(p + len, m->name, l);
		if (len > 0)
			p[--len] = '/';
	}
	return p;
}
