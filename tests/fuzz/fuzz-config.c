/* SPDX-License-Identifier: MIT */
/*
 * fuzz-config.c: libFuzzer target over the configuration loader and the
 * compiler (config_load_buffer -> compile_config), and what `check` does
 * with their results without a host: sorting and formatting the
 * diagnostics and the JSON of `check --json`.  (The grid of `show` walks
 * all 256 x 256 APQNs for every input, which would cost most of the
 * executions; render.c is not part of the loader.)
 *
 * One input is one main file, optionally followed by drop-ins: the line
 * "#%dropin" (a YAML comment, so seeds stay valid YAML) starts the next
 * file.  That reaches the rules that span files (host given twice, a guest
 * in two files, version only in the main file).
 *
 * Files are never opened: the loader gets buffers only.  To make sure that
 * no input can make it read a file (an include, a tag, a path taken from
 * the input), open(), openat(), fopen() and opendir() abort while an input
 * runs.  FUZZ_CONFIG_SELFTEST=1 checks that this guard works: the target
 * then calls config_load() on a real file during the first input and must
 * abort with "file access during an input".
 *
 * Build: make fuzz (clang, -fsanitize=fuzzer,address,undefined).
 */
#include <dlfcn.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compile.h"
#include "config.h"
#include "diag.h"
#include "render.h"

#define DROPIN_SEPARATOR "\n#%dropin\n"

static volatile int in_input;

static void refuse(const char *what, const char *path)
{
	if (!in_input)
		return;
	in_input = 0; /* libFuzzer may write the crash input next */
	fprintf(stderr, "fuzz-config: file access during an input: %s(%s)\n", what, path ? path : "?");
	abort();
}

/* The guard: the sanitizers do not intercept open/openat, and their fopen/opendir interceptors are weak. */
int open(const char *path, int flags, ...)
{
	static int (*real)(const char *, int, ...);
	mode_t mode = 0;

	refuse("open", path);
	if (!real)
		real = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open");
	if (flags & (O_CREAT | O_TMPFILE)) {
		va_list ap;
		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	return real(path, flags, mode);
}

int openat(int dirfd, const char *path, int flags, ...)
{
	static int (*real)(int, const char *, int, ...);
	mode_t mode = 0;

	refuse("openat", path);
	if (!real)
		real = (int (*)(int, const char *, int, ...))dlsym(RTLD_NEXT, "openat");
	if (flags & (O_CREAT | O_TMPFILE)) {
		va_list ap;
		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	return real(dirfd, path, flags, mode);
}

FILE *fopen(const char *path, const char *mode)
{
	static FILE *(*real)(const char *, const char *);

	refuse("fopen", path);
	if (!real)
		real = (FILE * (*)(const char *, const char *)) dlsym(RTLD_NEXT, "fopen");
	return real(path, mode);
}

DIR *opendir(const char *path)
{
	static DIR *(*real)(const char *);

	refuse("opendir", path);
	if (!real)
		real = (DIR * (*)(const char *)) dlsym(RTLD_NEXT, "opendir");
	return real(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = { "apmatrix.yaml", "apmatrix.d/10-a.yaml", "apmatrix.d/20-b.yaml",
					     "apmatrix.d/30-c.yaml" };
	const char *buf = (const char *)data, *end = buf + size;
	struct diag_list diags = {};
	struct config *cfg = config_new();
	struct desired *d = NULL;
	char *out = NULL;
	size_t out_len = 0;
	FILE *f;

	in_input = 1;
	if (getenv("FUZZ_CONFIG_SELFTEST")) {
		struct config *c2 = NULL;
		(void)config_load("/dev/null", NULL, &c2, &diags);
		config_free(c2);
	}
	for (size_t i = 0; buf <= end; i++) {
		const char *sep = memmem(buf, (size_t)(end - buf), DROPIN_SEPARATOR, strlen(DROPIN_SEPARATOR));
		size_t len = sep ? (size_t)(sep - buf) : (size_t)(end - buf);
		/* the loader gets its own copy, exactly len bytes, so ASan sees any overread */
		char *copy = malloc(len ? len : 1);

		if (!copy)
			abort();
		memcpy(copy, buf, len);
		(void)config_load_buffer(cfg, names[i < 3 ? i : 3], copy, len, &diags);
		free(copy);
		if (!sep)
			break;
		buf = sep + strlen(DROPIN_SEPARATOR);
	}

	(void)compile_config(cfg, &d, &diags);
	config_free(cfg);

	/* what the CLI does with the results, into memory */
	f = open_memstream(&out, &out_len);
	if (!f)
		abort();
	diag_sort(&diags);
	for (size_t i = 0; i < diags.n; i++) {
		char *s = diag_format(&diags.items[i]);
		/* one diagnostic is one line */
		if (!s || strchr(s, '\n'))
			abort();
		fputs(s, f);
		free(s);
	}
	diag_print_json(&diags, f);
	if (d)
		render_check_json(f, d, &diags, diag_count(&diags, DIAG_ERROR) == 0);
	fclose(f);
	free(out);
	desired_free(d);
	diag_list_done(&diags);
	in_input = 0;
	return 0;
}
