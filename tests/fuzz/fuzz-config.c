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
 * the input), open(), openat(), fopen() and opendir() are watched while an
 * input runs: a call is noted and the input aborts once it has run, with
 * "file access during an input".  Noted, not refused on the spot: when an
 * input crashes, libFuzzer writes it to a file from inside the input's
 * crash, and that file must be written.  FUZZ_CONFIG_SELFTEST=1 checks
 * that the guard works: the target then calls config_load() on a real file
 * during the first input.
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
static char violation[512];

static void refuse(const char *what, const char *path)
{
	if (!in_input || violation[0])
		return;
	snprintf(violation, sizeof(violation), "%s(%s)", what, path ? path : "?");
}

/* The input failed a check: libFuzzer writes it to a file next, which must not count as a violation. */
static void _Noreturn fail(const char *why)
{
	in_input = 0;
	fprintf(stderr, "fuzz-config: %s\n", why);
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
			fail("out of memory");
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
		fail("out of memory");
	diag_sort(&diags);
	for (size_t i = 0; i < diags.n; i++) {
		char *s = diag_format(&diags.items[i]);
		/* one diagnostic is one line */
		if (!s)
			fail("out of memory");
		if (strchr(s, '\n')) {
			fprintf(stderr, "fuzz-config: a diagnostic of more than one line: %s\n", s);
			fail("a diagnostic is one line");
		}
		fputs(s, f);
		free(s);
	}
	diag_print_json(&diags, f);
	if (d)
		render_check_json(f, d, &diags, diag_count(&diags, DIAG_ERROR) == 0, false, NULL);
	fclose(f);
	free(out);
	desired_free(d);
	diag_list_done(&diags);
	in_input = 0;
	if (violation[0]) {
		fprintf(stderr, "fuzz-config: file access during an input: %s\n", violation);
		abort();
	}
	return 0;
}
