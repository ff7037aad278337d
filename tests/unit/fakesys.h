/* SPDX-License-Identifier: MIT */
/*
 * fakesys.h: build small directory trees in a temporary directory for the
 * unit tests (plain files and symlinks, as kernel-abi.md §1 lays them out).
 * Test code only; it never touches anything outside the directory it made.
 */
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static inline char *fake_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *t;

	if (asprintf(&t, "%s/apmatrix-unit-XXXXXX", base && *base ? base : "/tmp") < 0)
		abort();
	if (!mkdtemp(t))
		abort();
	return t;
}

static inline void fake_mkdirs(const char *path)
{
	char *p = strdup(path);

	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		(void)mkdir(p, 0755);
		*s = '/';
	}
	(void)mkdir(p, 0755);
	free(p);
}

static inline void fake_parent(const char *path)
{
	char *p = strdup(path), *slash = strrchr(p, '/');

	if (slash) {
		*slash = '\0';
		fake_mkdirs(p);
	}
	free(p);
}

/* root/rel := content (parents created) */
static inline void fake_file(const char *root, const char *rel, const char *content)
{
	char *p;
	FILE *f;

	if (asprintf(&p, "%s/%s", root, rel) < 0)
		abort();
	fake_parent(p);
	f = fopen(p, "we");
	if (!f)
		abort();
	fputs(content, f);
	if (fclose(f) != 0)
		abort();
	free(p);
}

static inline void fake_dir(const char *root, const char *rel)
{
	char *p;

	if (asprintf(&p, "%s/%s", root, rel) < 0)
		abort();
	fake_mkdirs(p);
	free(p);
}

/* root/rel -> target (verbatim, usually relative) */
static inline void fake_link(const char *root, const char *rel, const char *target)
{
	char *p;

	if (asprintf(&p, "%s/%s", root, rel) < 0)
		abort();
	fake_parent(p);
	if (symlink(target, p) < 0)
		abort();
	free(p);
}

/* Remove root/rel; returns unlink()'s result. */
static inline int fake_unlink(const char *root, const char *rel)
{
	char *p;
	int r;

	if (asprintf(&p, "%s/%s", root, rel) < 0)
		abort();
	r = unlink(p);
	free(p);
	return r;
}

static inline char *fake_slurp(const char *root, const char *rel)
{
	char *p, *buf = NULL;
	size_t n = 0;
	FILE *f;

	if (asprintf(&p, "%s/%s", root, rel) < 0)
		abort();
	f = fopen(p, "re");
	free(p);
	if (!f)
		return NULL;
	if (getdelim(&buf, &n, '\0', f) < 0) {
		free(buf);
		buf = strdup("");
	}
	fclose(f);
	return buf;
}

static inline int fake_rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static inline void fake_rmtree(char *root)
{
	if (root)
		(void)nftw(root, fake_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(root);
}

/* Remove root/rel and everything below it; returns whether it is gone. */
static inline int fake_rm_rf(const char *root, const char *rel)
{
	struct stat st;
	char *p;
	int gone;

	if (asprintf(&p, "%s/%s", root, rel) < 0)
		abort();
	(void)nftw(p, fake_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	gone = lstat(p, &st) < 0 && errno == ENOENT;
	free(p);
	return gone;
}
