/* SPDX-License-Identifier: MIT */
/*
 * unit-seccomp: run a command under the seccomp filters that systemd builds
 * for a unit's SystemCallFilter=, SystemCallErrorNumber=,
 * RestrictAddressFamilies= and MemoryDenyWriteExecute= (tests/lib/unit-sandbox
 * works out the settings from the unit file and calls this).
 *
 *   unit-seccomp --allow FILE [--errno N] [--af-unix] [--mdwe] -- CMD [ARG]...
 *
 * --allow FILE  the syscalls the unit allows, one name per line (the expanded
 *               allow list minus the "~" deny lists); any other syscall fails
 *               with errno N (SystemCallErrorNumber=, default EPERM), as
 *               systemd does with an allow list and an error number
 * --af-unix     socket() and socketpair() fail with EAFNOSUPPORT for any
 *               family but AF_UNIX (RestrictAddressFamilies=AF_UNIX)
 * --mdwe        mmap() of memory both writable and executable, and
 *               mprotect()/pkey_mprotect() adding PROT_EXEC, fail with EPERM
 *               (MemoryDenyWriteExecute=yes)
 *
 * Like systemd, every restriction is a filter of its own (the kernel applies
 * the most restrictive answer of all), and no_new_privs is set first.  Names
 * this architecture does not have are skipped, as systemd skips them.
 */
#include <errno.h>
#include <seccomp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

static void die(const char *what, int err)
{
	fprintf(stderr, "unit-seccomp: %s: %s\n", what, strerror(err));
	exit(125);
}

static void usage(void)
{
	fprintf(stderr, "usage: unit-seccomp --allow FILE [--errno N] [--af-unix] [--mdwe] -- CMD [ARG]...\n");
	exit(125);
}

static void load(scmp_filter_ctx ctx, const char *what)
{
	int r = seccomp_load(ctx);

	if (r < 0)
		die(what, -r);
	seccomp_release(ctx);
}

static void rule(scmp_filter_ctx ctx, uint32_t action, const char *name, unsigned n, const struct scmp_arg_cmp *cmp)
{
	int nr = seccomp_syscall_resolve_name(name), r;

	if (nr == __NR_SCMP_ERROR)
		return; /* not on this architecture */
	r = seccomp_rule_add_array(ctx, action, nr, n, cmp);
	if (r < 0)
		die(name, -r);
}

static void allow_list(const char *path, int err)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(err));
	char line[128];
	unsigned n = 0;
	FILE *f;

	if (!ctx)
		die("seccomp_init", ENOMEM);
	f = fopen(path, "re");
	if (!f)
		die(path, errno);
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, " \t\r\n")] = '\0';
		if (!line[0] || line[0] == '#')
			continue;
		rule(ctx, SCMP_ACT_ALLOW, line, 0, NULL);
		n++;
	}
	fclose(f);
	if (n == 0) {
		fprintf(stderr, "unit-seccomp: %s: no syscall allowed\n", path);
		exit(125);
	}
	load(ctx, "allow list");
}

static void af_unix_only(void)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	struct scmp_arg_cmp not_unix = { .arg = 0, .op = SCMP_CMP_NE, .datum_a = AF_UNIX, .datum_b = 0 };

	if (!ctx)
		die("seccomp_init", ENOMEM);
	rule(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), "socket", 1, &not_unix);
	rule(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), "socketpair", 1, &not_unix);
	load(ctx, "address families");
}

static void mdwe(void)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	struct scmp_arg_cmp wx = { .arg = 2, .op = SCMP_CMP_MASKED_EQ, .datum_a = PROT_WRITE | PROT_EXEC,
				   .datum_b = PROT_WRITE | PROT_EXEC };
	struct scmp_arg_cmp x = { .arg = 2, .op = SCMP_CMP_MASKED_EQ, .datum_a = PROT_EXEC, .datum_b = PROT_EXEC };

	if (!ctx)
		die("seccomp_init", ENOMEM);
	rule(ctx, SCMP_ACT_ERRNO(EPERM), "mmap", 1, &wx);
	rule(ctx, SCMP_ACT_ERRNO(EPERM), "mprotect", 1, &x);
	rule(ctx, SCMP_ACT_ERRNO(EPERM), "pkey_mprotect", 1, &x);
	load(ctx, "MemoryDenyWriteExecute");
}

int main(int argc, char **argv)
{
	const char *allow = NULL;
	bool af = false, wx = false;
	int err = EPERM, i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--allow") && i + 1 < argc)
			allow = argv[++i];
		else if (!strcmp(argv[i], "--errno") && i + 1 < argc)
			err = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--af-unix"))
			af = true;
		else if (!strcmp(argv[i], "--mdwe"))
			wx = true;
		else if (!strcmp(argv[i], "--")) {
			i++;
			break;
		} else
			usage();
	}
	if (!allow || i >= argc || err <= 0)
		usage();
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		die("no_new_privs", errno);
	if (wx)
		mdwe();
	if (af)
		af_unix_only();
	allow_list(allow, err);
	execvp(argv[i], argv + i);
	fprintf(stderr, "unit-seccomp: %s: %s\n", argv[i], strerror(errno));
	return 126;
}
