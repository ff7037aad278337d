/* SPDX-License-Identifier: MIT */
/*
 * apmatrix: declarative vfio_ap crypto passthrough for s390x KVM hosts.
 *
 * main.c is the CLI only: arguments, the command table, turning results
 * into output and exit codes (DESIGN §3, STYLE R10, R25-R27).  Every other
 * module is non-logging and reports through return values and diag lists.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "apply.h"
#include "compile.h"
#include "config.h"
#include "diag.h"
#include "hostcheck.h"
#include "import.h"
#include "live.h"
#include "log.h"
#include "owner.h"
#include "plan.h"
#include "render.h"
#include "snippet.h"
#include "sysfs.h"

#define EXIT_CHANGES 2 /* diff found changes, or apply left changes pending */
#define EXIT_SIGNAL_BASE 128 /* apply stopped by signal N between two changes: 128 + N, as a shell shows */
#ifndef APMATRIX_VERSION
#define APMATRIX_VERSION "0.1"
#endif

static const char *arg_config;
static const char *arg_config_dir;
static bool arg_json;
static bool arg_shell;
static bool arg_dry_run;
static bool arg_force;
static bool arg_no_live;
static int arg_color = -1; /* -1 auto */
static int arg_wait = 300; /* seconds to wait for the locks */
static enum log_level arg_log_level = LOG_LEVEL_NOTICE;
static bool arg_quiet;
static enum import_source arg_from = IMPORT_FROM_LIVE;
static const char *arg_output;
static enum { SNIPPET_DEFAULT, SNIPPET_LIBVIRT, SNIPPET_QEMU } arg_snippet;

/* The options that belong to some commands only (the others go with every command). */
enum {
	OPT_JSON = 1 << 0,
	OPT_SHELL = 1 << 1,
	OPT_DRY_RUN = 1 << 2,
	OPT_FORCE = 1 << 3,
	OPT_NO_LIVE = 1 << 4,
	OPT_WAIT = 1 << 5,
	OPT_FROM = 1 << 6,
	OPT_OUTPUT = 1 << 7,
	OPT_SNIPPET = 1 << 8,
};

static unsigned arg_seen; /* OPT_* given on the command line */
static bool arg_help;

/* The commands, by their index in commands[]; C() makes a set of them. */
enum {
	CMD_CHECK,
	CMD_SHOW,
	CMD_DIFF,
	CMD_APPLY,
	CMD_STATUS,
	CMD_IMPORT,
	CMD_GUEST,
	CMD_HELP,
	_CMD_MAX,
};
#define C(x) (1u << CMD_##x)

struct command {
	const char *name;
	const char *args;
	int (*fn)(int argc, char **argv);
	const char *help; /* one line, for apmatrix --help */
	const char *description; /* a paragraph, for apmatrix help COMMAND */
};

static int cmd_check(int argc, char **argv);
static int cmd_show(int argc, char **argv);
static int cmd_diff(int argc, char **argv);
static int cmd_apply(int argc, char **argv);
static int cmd_status(int argc, char **argv);
static int cmd_import(int argc, char **argv);
static int cmd_guest(int argc, char **argv);
static int cmd_help(int argc, char **argv);

/* Of the mdevs uuids, those that exist in l and that a running guest holds. */
static char **running_mdevs(const struct live *l, char **uuids)
{
	char **v = NULL;
	size_t n = 0;

	for (char **u = uuids; u && *u; u++) {
		const struct live_mdev *m = live_find_mdev(l, *u);

		if (!m || !live_mdev_in_use(l, m))
			continue;
		v = xrealloc(v, (n + 2) * sizeof(*v));
		v[n++] = xstrdup(*u);
		v[n] = NULL;
	}
	return v;
}

/* Whether an mdev of uuids is gone from l or no running guest holds it any more. */
static bool any_stopped(const struct live *l, char **uuids)
{
	for (char **u = uuids; u && *u; u++) {
		const struct live_mdev *m = live_find_mdev(l, *u);

		if (!m || !live_mdev_in_use(l, m))
			return true;
	}
	return false;
}

/* The mdevs of p's pending actions (NULL-terminated; *ret_host: a host action is pending). */
static char **pending_mdevs(const struct plan *p, bool *ret_host)
{
	char **v = NULL;
	size_t n = 0;

	*ret_host = false;
	for (size_t i = 0; i < p->n; i++) {
		const struct action *a = &p->actions[i];

		if (!a->pending)
			continue;
		if (!a->uuid[0]) {
			*ret_host = true;
			continue;
		}
		if (n && streq(v[n - 1], a->uuid))
			continue; /* an mdev's actions are next to each other */
		v = xrealloc(v, (n + 2) * sizeof(*v));
		v[n++] = xstrdup(a->uuid);
		v[n] = NULL;
	}
	return v;
}

/*
 * Whether every action of p that apply would write (not pending, not one
 * the kernel keeps refusing) is of an mdev that had a pending action in
 * the round before (held: pending_mdevs()), or a host action when one was
 * pending then: what a guest that stopped meanwhile lets go ahead.
 */
static bool only_held_before(const struct plan *p, const struct apply_history *hist, char **held, bool held_host)
{
	size_t n = 0;

	for (size_t i = 0; i < p->n; i++) {
		const struct action *a = &p->actions[i];

		if (a->pending || apply_history_refiltered(hist, a))
			continue;
		if (a->uuid[0] ? !strv_contains(held, a->uuid) : !held_host)
			return false;
		n++;
	}
	return n > 0;
}

static const struct command commands[_CMD_MAX] = {
	[CMD_CHECK] = { "check", "", cmd_check, "validate the configuration (and against this host, when on one)",
			"Validate the configuration: syntax, numbers, names, UUIDs, and that no queue is given twice "
			"or to a guest and the host. On a host with an AP bus it is also checked against the host "
			"(unless --no-live): adapters and domains beyond the machine's maximum, queues held by mdevs "
			"apmatrix did not create, mdevctl definitions that assign the same queues. Every error "
			"found gives exit status 65 (the host or its ownership records cannot be read: 1). Off an AP host and with --no-live the host is not checked: "
			"the ok line ends in (configuration only: ...) saying why, and --json's host_checked is "
			"false." },
	[CMD_SHOW] = { "show", "[GUEST]", cmd_show, "draw the matrix: who owns each queue, conflicts, each guest's view",
		       "Draw the matrix: a grid of adapters by domains with the guest owning each queue, conflicts "
		       "marked !, and per guest the queues it will see, in lszcrypt style; on an AP host the live "
		       "state too (unless --no-live). With GUEST, that guest only." },
	[CMD_DIFF] = { "diff", "", cmd_diff, "print what apply would change, without writing (= apply --dry-run)",
		       "Print what apply would change, one action per line, without writing anything (the same as "
		       "apply --dry-run), and how many; with --shell as shell commands, with --json as a JSON "
		       "document. Exit status 2 when there is something to change." },
	[CMD_APPLY] = { "apply", "", cmd_apply, "make the host match the configuration",
			"Validate the configuration, take the locks, read the host again, carry out the plan and "
			"verify the result. A configuration that is wrong is refused before the locks: nothing is "
			"written. Changes to a running guest's mdev are left pending (exit status 2) unless --force "
			"hot plugs them (kernel 6.0 or later)." },
	[CMD_STATUS] = { "status", "", cmd_status, "compare the live host with the configuration, per guest",
			 "Compare the live host with the configuration, per guest: absent, matches or differs, "
			 "and whether it is running, or left out (as diff and apply leave it: an error of its own "
			 "against this host, an mdevctl definition started at boot that shares its queues, an mdev "
			 "apmatrix does not manage or a left-out guest's that holds one); list the mdevs that are not declared (foreign), the mask bits apmatrix has "
			 "taken from the host, and those taken outside apmatrix (boot setting, chzdev or by "
			 "hand), which it leaves as they are." },
	[CMD_IMPORT] = { "import", "", cmd_import, "write the configuration that reproduces this host's vfio_ap state",
			 "Write the configuration that reproduces what the host has now: one guest per vfio_ap "
			 "mdev (--from live) or per mdevctl definition (--from mdevctl), keeping each UUID, and "
			 "host.keep for the queues host drivers hold now (which then stay the host's: new guests "
			 "cannot have them until host.keep is edited). Then apmatrix -c FILE diff reports 0 "
			 "changes, except that apply creates the mdev of each mdevctl definition that is not "
			 "started (not of one that assigns beyond the host's maxima, which check refuses: a "
			 "warning names each), and sets each started mdev whose matrix was changed after its start back to "
			 "its definition (a warning names each). --from mdevctl also writes each mdev apmatrix created "
			 "that no definition has, as --from live does (a note names each), so that apply does not "
			 "remove it. Two mdevctl definitions that assign one queue, or a definition and such an "
			 "mdev, are an error, and nothing is written." },
	[CMD_GUEST] = { "guest", "GUEST", cmd_guest, "print the guest's libvirt <hostdev> element or QEMU -device argument",
			"Print how the guest refers to its mdev: the libvirt <hostdev> element with the mdev's "
			"UUID, or with --qemu the QEMU -device argument. QEMU allows one vfio-ap device per guest: "
			"declare one guest with all the adapters and domains it needs. On an AP host (unless "
			"--no-live) a warning says when the mdev does not exist yet, or that it cannot be "
			"created because vfio_ap is not loaded, and --qemu prints the "
			"argument of the host's vfio_ap interface." },
	[CMD_HELP] = { "help", "[COMMAND]", cmd_help, "show the help of COMMAND (the same as COMMAND --help)",
		       "Print the usage of COMMAND, what it does and the options it takes; without COMMAND, the "
		       "help of apmatrix." },
};

/*
 * The options as --help describes them.  A row with commands describes the
 * option for those commands, and this table alone says which command takes
 * which option: the help of each command and the refusal of an option a
 * command does not take (check_command_options()) are made from it, so
 * they cannot differ.  A row without commands is an option of every
 * command.
 */
static const struct option_doc {
	const char *names;
	unsigned bit; /* OPT_* */
	unsigned commands; /* C() */
	const char *text;
} option_docs[] = {
	{ "-c, --config FILE", 0, 0, "configuration file (default " CONFIG_DEFAULT_PATH "; - reads stdin)" },
	{ "    --config-dir DIR", 0, 0,
	  "drop-in directory (default " CONFIG_DEFAULT_DROPIN_DIR "; with -c FILE read only when given, or when FILE "
	  "is " CONFIG_DEFAULT_PATH ")" },
	{ "-j, --json", OPT_JSON, C(CHECK) | C(DIFF) | C(APPLY) | C(STATUS), "machine-readable output" },
	{ "-j, --json", OPT_JSON, C(SHOW),
	  "machine-readable output: the status document, or check's with --no-live, off an AP host or when the "
	  "configuration has errors (its \"document\" says which)" },
	{ "    --shell", OPT_SHELL, C(DIFF) | C(APPLY), "print the plan as shell commands" },
	{ "-n, --dry-run", OPT_DRY_RUN, C(APPLY), "only print the plan" },
	{ "-n, --dry-run", OPT_DRY_RUN, C(DIFF), "changes nothing (diff never writes)" },
	{ "-f, --force", OPT_FORCE, C(APPLY), "also change guests that are running (hot plug, 6.0+)" },
	{ "-f, --force", OPT_FORCE, C(DIFF), "show the plan apply --force would carry out" },
	{ "-f, --force", OPT_FORCE, C(IMPORT), "replace an existing --output file" },
	{ "    --no-live", OPT_NO_LIVE, C(CHECK) | C(SHOW) | C(GUEST), "ignore the host, use the configuration only" },
	{ "    --wait SECONDS", OPT_WAIT, C(APPLY), "how long to wait for the locks, 0-86400 (default 300)" },
	{ "    --from SOURCE", OPT_FROM, C(IMPORT),
	  "live (the mdevs in sysfs, default) or mdevctl (the definitions in " IMPORT_MDEVCTL_DIR ")" },
	{ "-o, --output FILE", OPT_OUTPUT, C(IMPORT), "write FILE atomically instead of standard output" },
	{ "    --libvirt", OPT_SNIPPET, C(GUEST), "the libvirt <hostdev> element (default)" },
	{ "    --qemu", OPT_SNIPPET, C(GUEST), "the QEMU command line argument (one vfio-ap device per guest)" },
	{ "    --color WHEN", 0, 0, "auto (default), always or never: show's grid, diff's pending" },
	{ "-q, --quiet", 0, 0, "print only errors (and what show, status, import, guest, --json, --shell print)" },
	{ "-v, --verbose", 0, 0, "print debug messages (of -q and -v, the last wins)" },
	{ "-h, --help", 0, 0, "show this help (after a command, that command's)" },
	{ "-V, --version", 0, 0, "show the version" },
};

static const char *sysfs_root_path(void)
{
	const char *e = secure_getenv("APMATRIX_SYSFS_ROOT");
	return e && *e ? e : SYSFS_DEFAULT_ROOT;
}

/*
 * The vfio group devices: a guest's group that cannot be opened (EBUSY) is
 * in use.  This machine's /dev/vfio only says something about this
 * machine's /sys, so with another sysfs root there is none unless given.
 */
static const char *vfio_dir_path(void)
{
	const char *e = secure_getenv("APMATRIX_VFIO_DIR");

	if (e && *e)
		return e;
	return streq(sysfs_root_path(), SYSFS_DEFAULT_ROOT) ? "/dev/vfio" : NULL;
}

/* APMATRIX_RUNDIR without trailing slashes ("/run/x/" names RUNDIR/lock "/run/x/lock") */
static const char *rundir_path(void)
{
	static char *path;
	const char *e = secure_getenv("APMATRIX_RUNDIR");
	size_t n;

	if (!e || !*e)
		return OWNER_DEFAULT_RUNDIR;
	if (!path) {
		for (n = strlen(e); n > 1 && e[n - 1] == '/'; n--)
			;
		path = xasprintf("%.*s", (int)n, e);
	}
	return path;
}

static const char *s390_lock_path(void)
{
	const char *e = secure_getenv("APMATRIX_S390_LOCK");
	return e && *e ? e : OWNER_S390_LOCK;
}

static bool use_color(FILE *f)
{
	const char *no_color = getenv("NO_COLOR");

	if (arg_color >= 0)
		return arg_color;
	if (arg_json || (no_color && *no_color)) /* no-color.org: set and not empty */
		return false;
	return isatty(fileno(f));
}

#define HELP_WIDTH 79
#define HELP_OPTION_COLUMN 25

/* The OPT_* a command takes. */
static unsigned command_options(size_t cmd)
{
	unsigned r = 0;

	for (size_t i = 0; i < ARRAY_SIZE(option_docs); i++)
		if (option_docs[i].commands & (1u << cmd))
			r |= option_docs[i].bit;
	return r;
}

/* How a command takes an option: apply --shell prints only with -n (apply -n --shell) */
static const char *command_as(size_t cmd, unsigned bit)
{
	return cmd == CMD_APPLY && bit == OPT_SHELL ? "apply -n" : commands[cmd].name;
}

/* The commands that take an option, in the order of option_docs: "apply, diff and import". */
static char *option_owners(unsigned bit)
{
	const char *names[_CMD_MAX];
	unsigned seen = 0;
	size_t n = 0;
	char *s = xstrdup("");

	for (size_t i = 0; i < ARRAY_SIZE(option_docs); i++) {
		if (option_docs[i].bit != bit)
			continue;
		for (size_t c = 0; c < _CMD_MAX; c++)
			if (option_docs[i].commands & ~seen & (1u << c)) {
				seen |= 1u << c;
				names[n++] = command_as(c, bit);
			}
	}
	for (size_t k = 0; k < n; k++) {
		char *t = xasprintf("%s%s%s", s, k == 0 ? "" : k == n - 1 ? " and " : ", ", names[k]);
		free(s);
		s = t;
	}
	return s;
}

/* Print s from column col, wrapped at HELP_WIDTH at spaces, going on at column indent. */
static void print_wrapped(const char *s, size_t col, size_t indent)
{
	for (;;) {
		size_t n = strlen(s), cut = n;

		if (col + n > HELP_WIDTH) {
			/* the last space that fits, else the first one */
			cut = 0;
			for (size_t i = 1; i < n; i++) {
				/* not after a lone "-": "- reads stdin" stays together */
				bool dash = s[i - 1] == '-' && (i == 1 || s[i - 2] == ' ');

				if (s[i] == ' ' && !dash && (col + i <= HELP_WIDTH || !cut))
					cut = i;
				if (cut && col + i > HELP_WIDTH)
					break;
			}
			if (!cut)
				cut = n;
		}
		printf("%.*s\n", (int)cut, s);
		s += cut;
		while (*s == ' ')
			s++;
		if (!*s)
			return;
		printf("%*s", (int)indent, "");
		col = indent;
	}
}

/* One line of an option list: the names (unless those of the line above), then the text. */
static void print_option(const char *names, const char *prev, const char *text)
{
	int col;

	printf("  %s%n", prev && streq(prev, names) ? "" : names, &col);
	if (col + 1 >= HELP_OPTION_COLUMN) {
		printf("\n");
		col = 0;
	}
	printf("%*s", HELP_OPTION_COLUMN - col, "");
	print_wrapped(text, HELP_OPTION_COLUMN, HELP_OPTION_COLUMN);
}

static const char help_exit_status[] =
	"Exit status: 0 done or nothing to do, 1 failure, 2 changes found (diff) or left\n"
	"pending (apply), 64 usage error, 65 invalid configuration, 75 apply found the\n"
	"locks held for --wait seconds (nothing changed; retry) or the host changed\n"
	"again during its last round (retry), 128+N apply stopped by signal N (129\n"
	"SIGHUP, 130 SIGINT, 143 SIGTERM) between two changes, or before the first\n"
	"one (while reading or waiting for the locks: nothing changed).\n\n";

static void help(void)
{
	const char *prev = NULL;

	printf("Usage: apmatrix [OPTIONS] COMMAND [ARGS]\n\n"
	       "Declare which KVM guest gets which s390 AP crypto queues, and make the host match.\n\n"
	       "Commands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		_cleanup_free_ char *s = xasprintf("%s %s", commands[i].name, commands[i].args);
		printf("  %-16s %s\n", s, commands[i].help);
	}
	printf("\nOptions:\n");
	for (size_t i = 0; i < ARRAY_SIZE(option_docs); i++) {
		const struct option_doc *o = &option_docs[i];
		_cleanup_free_ char *who = NULL, *text = NULL;

		if (o->commands) {
			who = xstrdup("");
			for (size_t c = 0; c < _CMD_MAX; c++)
				if (o->commands & (1u << c)) {
					char *t = xasprintf("%s%s%s", who, *who ? ", " : "", command_as(c, o->bit));
					free(who);
					who = t;
				}
		}
		text = who ? xasprintf("%s: %s", who, o->text) : xstrdup(o->text);
		print_option(o->names, prev, text);
		prev = o->names;
	}
	printf("\n%s"
	       "Run 'apmatrix help COMMAND' for the options of one command.\n"
	       "See apmatrix(8) and apmatrix.yaml(5).\n",
	       help_exit_status);
}

/* apmatrix help CMD, apmatrix CMD --help: generated from the tables, like the refusals */
static void help_command(size_t cmd)
{
	const struct command *c = &commands[cmd];
	const char *prev = NULL;

	printf("Usage: apmatrix [OPTIONS] %s%s%s\n\n", c->name, *c->args ? " " : "", c->args);
	print_wrapped(c->description, 0, 0);
	if (command_options(cmd)) {
		printf("\nOptions of %s:\n", c->name);
		for (size_t i = 0; i < ARRAY_SIZE(option_docs); i++) {
			const struct option_doc *o = &option_docs[i];

			if (!(o->commands & (1u << cmd)))
				continue;
			if (cmd == CMD_APPLY && o->bit == OPT_SHELL) {
				_cleanup_free_ char *t = xasprintf("with -n: %s", o->text);
				print_option(o->names, prev, t);
			} else
				print_option(o->names, prev, o->text);
			prev = o->names;
		}
	}
	printf("\nOptions of every command:\n");
	prev = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(option_docs); i++) {
		if (option_docs[i].commands)
			continue;
		print_option(option_docs[i].names, prev, option_docs[i].text);
		prev = option_docs[i].names;
	}
	printf("\n%sSee apmatrix(8).\n", help_exit_status);
}

static const char *usage_hint = "apmatrix --help"; /* "apmatrix apply --help" once the command is known */

/* A usage error of a command points at that command's help (help's own, at apmatrix --help). */
static void usage_hint_for(const struct command *cmd)
{
	static char hint[64];

	if (!cmd || cmd->fn == cmd_help)
		return;
	snprintf(hint, sizeof(hint), "apmatrix %s --help", cmd->name);
	usage_hint = hint;
}

static int usage_error(const char *fmt, const char *arg)
{
	_cleanup_free_ char *s = xasprintf(fmt, arg);
	log_error("%s", s);
	fprintf(stderr, "Try '%s' for more information.\n", usage_hint);
	return -EX_USAGE;
}

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (streq(name, commands[i].name))
			return &commands[i];
	return NULL;
}

enum {
	ARG_CONFIG_DIR = 0x100,
	ARG_SHELL,
	ARG_NO_LIVE,
	ARG_COLOR,
	ARG_WAIT,
	ARG_FROM,
	ARG_LIBVIRT,
	ARG_QEMU,
};

/*
 * The first usage error among the options, said once the options are read:
 * by then the command is known, and the error points at its help
 * (apmatrix import --from bogus: "Try 'apmatrix import --help'"), as the
 * errors found after the options do.
 */
static char *first_option_error;

_printf_(1, 2) static void option_error(const char *fmt, ...)
{
	va_list ap;

	if (first_option_error)
		return;
	va_start(ap, fmt);
	if (vasprintf(&first_option_error, fmt, ap) < 0)
		abort();
	va_end(ap);
}

/* <0: exit with -r; 0: exit 0; >0: go on with the command at optind */
static int parse_argv(int argc, char **argv)
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "config-dir", required_argument, NULL, ARG_CONFIG_DIR },
		{ "json", no_argument, NULL, 'j' },
		{ "shell", no_argument, NULL, ARG_SHELL },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "force", no_argument, NULL, 'f' },
		{ "no-live", no_argument, NULL, ARG_NO_LIVE },
		{ "wait", required_argument, NULL, ARG_WAIT },
		{ "from", required_argument, NULL, ARG_FROM },
		{ "output", required_argument, NULL, 'o' },
		{ "libvirt", no_argument, NULL, ARG_LIBVIRT },
		{ "qemu", no_argument, NULL, ARG_QEMU },
		{ "color", required_argument, NULL, ARG_COLOR },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{}
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":c:jnfo:qvhV", options, NULL)) >= 0) {
		switch (c) {
		case 'c':
			/* an unset variable in a script ("-c $CFG"): not a file named "" */
			if (!*optarg)
				option_error("%s", "invalid --config '': expected a file name, or - for standard input");
			arg_config = optarg;
			break;
		case ARG_CONFIG_DIR:
			if (!*optarg)
				option_error("%s", "invalid --config-dir '': expected a directory name");
			arg_config_dir = optarg;
			break;
		case 'j':
			arg_json = true;
			arg_seen |= OPT_JSON;
			break;
		case ARG_SHELL:
			arg_shell = true;
			arg_seen |= OPT_SHELL;
			break;
		case 'n':
			arg_dry_run = true;
			arg_seen |= OPT_DRY_RUN;
			break;
		case 'f':
			arg_force = true;
			arg_seen |= OPT_FORCE;
			break;
		case ARG_NO_LIVE:
			arg_no_live = true;
			arg_seen |= OPT_NO_LIVE;
			break;
		case ARG_WAIT: {
			unsigned long long v;

			/* digits only: not " 5", "+5" or "5 " (strtol would take them) */
			if (parse_decimal_ull(optarg, &v) < 0 || v > 86400)
				option_error("invalid --wait '%s': expected seconds, 0-86400", optarg);
			arg_wait = (int)v;
			arg_seen |= OPT_WAIT;
			break;
		}
		case ARG_FROM:
			arg_from = import_source_from_string(optarg);
			if (arg_from < 0)
				option_error("invalid --from '%s': expected live or mdevctl", optarg);
			arg_seen |= OPT_FROM;
			break;
		case 'o':
			/* as -c '': an unset variable ("-o $OUT"), not a file named "" */
			if (!*optarg)
				option_error("%s", "invalid --output '': expected a file name, or - for standard output");
			arg_output = optarg;
			arg_seen |= OPT_OUTPUT;
			break;
		case ARG_LIBVIRT:
		case ARG_QEMU:
			if (arg_snippet != SNIPPET_DEFAULT && arg_snippet != (c == ARG_QEMU ? SNIPPET_QEMU : SNIPPET_LIBVIRT))
				option_error("%s", "--libvirt and --qemu cannot be combined");
			arg_snippet = c == ARG_QEMU ? SNIPPET_QEMU : SNIPPET_LIBVIRT;
			arg_seen |= OPT_SNIPPET;
			break;
		case ARG_COLOR:
			if (streq(optarg, "auto"))
				arg_color = -1;
			else if (streq(optarg, "always"))
				arg_color = 1;
			else if (streq(optarg, "never"))
				arg_color = 0;
			else
				option_error("invalid --color '%s': expected auto, always or never", optarg);
			break;
		case 'q':
			arg_quiet = true;
			arg_log_level = LOG_LEVEL_ERROR;
			break;
		case 'v':
			arg_quiet = false; /* of -q and -v, the last wins */
			arg_log_level = LOG_LEVEL_DEBUG;
			break;
		case 'h':
			arg_help = true; /* after the command, that command's help */
			break;
		case 'V':
			if (first_option_error)
				break; /* an error before it is said, as it was when options stopped there */
			printf("apmatrix %s\n", APMATRIX_VERSION);
			return 0;
		case ':':
			option_error("option '%s' needs an argument", argv[optind - 1]);
			break;
		default:
			option_error("unknown option '%s'", argv[optind - 1]);
			break;
		}
	}
	if (first_option_error) {
		/* getopt_long() has moved the command (the first word not an option) to optind */
		_cleanup_free_ char *e = TAKE_PTR(first_option_error);

		usage_hint_for(optind < argc ? find_command(argv[optind]) : NULL);
		return usage_error("%s", e);
	}
	if (arg_help) {
		/* apmatrix --help, apmatrix CMD --help, apmatrix help CMD --help */
		int k = optind + (optind + 1 < argc && streq(argv[optind], "help"));
		const struct command *cmd = k < argc ? find_command(argv[k]) : NULL;

		if (k < argc && !cmd)
			return usage_error("unknown command '%s'", argv[k]);
		if (cmd)
			help_command(cmd - commands);
		else
			help();
		return 0;
	}
	if (arg_json && arg_shell)
		return usage_error("%s", "--json and --shell cannot be combined");
	return 1;
}

/*
 * The messages printed so far, so that apply's later rounds (and its read
 * under the lock) say each once; hashed, since an invalid configuration of
 * thousands of guests has tens of thousands of messages.
 */
struct shown {
	char **lines;
	size_t n, cap;
	struct str_index index;
};

/*
 * What the rounds of one apply learn for the rounds after: the mdevs it
 * created (live_mark_fresh()), what failed (not tried again) and what was
 * held back (said once: a round after a change of the host holds back the
 * same actions again); with --json, the document's actions and
 * diagnostics as they happen.
 */
struct run {
	char (*uuids)[37];
	size_t n, cap;
	struct owner_failed_create *failed_creates; /* the creates that failed, for RUNDIR/failed */
	size_t n_failed_creates, cap_failed_creates;
	struct apply_history failed;
	struct shown held;
	struct shown left_out; /* the guests an error left out of the run, in the order said */
	struct config_inputs inputs; /* the configuration's bytes as validated before the locks */
	unsigned round; /* 1-based */
	FILE *json_actions, *json_diags;
	char *json_actions_buf, *json_diags_buf;
	size_t json_actions_len, json_diags_len;
	size_t n_json_actions, n_json_diags;
};

static const char *shown_key(const void *items, size_t k)
{
	return ((char *const *)items)[k];
}

/* Whether s was shown before; if not, it is now. */
static bool shown_before(struct shown *sh, const char *s)
{
	if (!sh)
		return false;
	if (str_index_find(&sh->index, s, shown_key, sh->lines) >= 0)
		return true;
	sh->lines = xgrow(sh->lines, &sh->cap, sh->n + 1, sizeof(*sh->lines));
	sh->lines[sh->n] = xstrdup(s);
	str_index_add(&sh->index, sh->n++, shown_key, sh->lines);
	return false;
}

static void shown_done(struct shown *sh)
{
	for (size_t i = 0; i < sh->n; i++)
		free(sh->lines[i]);
	free(sh->lines);
	str_index_done(&sh->index);
}

/* run: apply's, whose --json document gets them too (NULL elsewhere) */
static void print_diags_once(struct diag_list *diags, struct shown *sh, struct run *run)
{
	diag_sort(diags);
	for (size_t i = 0; i < diags->n; i++) {
		_cleanup_free_ char *s = diag_format(&diags->items[i]);

		if (run && diags->items[i].severity == DIAG_ERROR && diags->items[i].guest)
			shown_before(&run->left_out, diags->items[i].guest);
		if (shown_before(sh, s))
			continue;
		log_line(diags->items[i].severity == DIAG_ERROR ? LOG_LEVEL_ERROR : LOG_LEVEL_WARNING, s);
		if (run && run->json_diags) {
			if (run->n_json_diags++)
				fputc(',', run->json_diags);
			diag_print_json_item(&diags->items[i], run->json_diags);
		}
	}
}

static void print_diags(struct diag_list *diags)
{
	print_diags_once(diags, NULL, NULL);
}

/* Everything plan p would do now is a give-back (a mask release or a queue moved back to the host). */
static bool plan_gives_back_only(const struct plan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		enum action_kind k = p->actions[i].kind;

		if (!p->actions[i].pending && k != ACTION_RELEASE_APMASK && k != ACTION_RELEASE_AQMASK &&
		    k != ACTION_RELEASE_QUEUE)
			return false;
	}
	return true;
}

/* Mark the guests a step of which failed in this run (h): the plan leaves them as they are.  Returns whether one is new. */
static bool freeze_failed(struct desired *d, const struct apply_history *h)
{
	bool newly = false;

	for (size_t i = 0; i < d->n_guests; i++)
		for (size_t k = 0; k < h->n_guests && !d->guests[i].failed; k++)
			if (streq(d->guests[i].name, h->guests[k]))
				d->guests[i].failed = newly = true;
	return newly;
}

/*
 * apply, as check: where host.keep is not in effect once the run is done
 * (the host its last read showed, when that round wrote nothing, or the
 * settled verification): a foreign mdev, a running guest's pending
 * change, mask bits cleared outside apmatrix.  What the run itself
 * changed is not told beforehand.
 */
static void keep_after(const struct desired *d, const struct live *l, struct shown *sh, struct run *run)
{
	struct diag_list kd = {};

	hostcheck_keep(d, l, &kd);
	print_diags_once(&kd, sh, run);
	diag_list_done(&kd);
}

/*
 * -c FILE names the default file itself (by its path, a link to it, a path
 * through a link): it means what no -c means, drop-ins included.  Spelling
 * the default out must not drop the guests that other files declare (and
 * have apply remove their mdevs).
 */
static bool config_is_default(const char *path)
{
	struct stat a, b;

	if (streq(path, CONFIG_DEFAULT_PATH))
		return true;
	return !streq(path, "-") && stat(path, &a) == 0 && stat(CONFIG_DEFAULT_PATH, &b) == 0 &&
	       a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* The configuration file and drop-in directory (NULL: none) that -c and --config-dir name. */
static void config_paths(const char **ret_path, const char **ret_dir)
{
	*ret_path = arg_config ? arg_config : CONFIG_DEFAULT_PATH;
	if (arg_config_dir)
		*ret_dir = arg_config_dir;
	else
		*ret_dir = !arg_config || config_is_default(arg_config) ? CONFIG_DEFAULT_DROPIN_DIR : NULL;
}

/*
 * Load and compile.  Returns 0, -EINVAL (errors in diags) or another -errno.
 * inputs: where the bytes read are kept, and stdin taken from (NULL: none).
 * *ret_incomplete (when not NULL): a file was not read to its end (config.h,
 * incomplete), so that *ret holds only what came before the error.
 */
static int load_desired(struct diag_list *diags, struct desired **ret, struct config_inputs *inputs,
			bool *ret_incomplete)
{
	const char *path, *dir;
	struct config *cfg = config_new();
	struct compiler *c = compile_begin(cfg); /* each guest compiled as it is read */
	struct desired *d = NULL;
	int r, k;

	config_paths(&path, &dir);
	if (inputs)
		config_keep_inputs(cfg, inputs);
	r = config_load_into(cfg, path, dir, diags);
	k = compile_end(c, cfg, &d, diags);
	if (r == 0)
		r = k;
	else if (r != -EINVAL)
		d = desired_free(d); /* not read at all: no desired state */
	if (ret_incomplete)
		*ret_incomplete = cfg->incomplete;
	config_free(cfg);
	*ret = d;
	return r;
}

#define NO_AP_BUS_FMT "no AP bus under %s/bus/ap: this is not an s390 host with crypto adapters"

/*
 * Read the host.  Returns 0, or -ENODEV when this is no AP host (*ret set
 * anyway), or another -errno.  Why it failed is an error in diags, so that
 * a --json document carries it, not standard error alone.
 */
static const char *errno_name(int err)
{
	const char *n = strerrorname_np(err);
	return n ? n : "E?";
}

static int load_live(struct sysfs **ret_sysfs, struct owner_db **ret_owner, unsigned flags, bool locked,
		     struct live **ret_live, struct diag_list *diags)
{
	_cleanup_free_ char *why = NULL;
	struct sysfs *s = NULL;
	struct owner_db *o = NULL;
	long holder;
	int r;

	r = sysfs_open(sysfs_root_path(), &s);
	if (r < 0) {
		diag_add(diags, DIAG_ERROR, NULL, NULL, "cannot open %s: %s", sysfs_root_path(), strerror(-r));
		return r;
	}
	sysfs_set_vfio_dir(s, vfio_dir_path());
	r = owner_load_explained(rundir_path(), &o, &why);
	if (r < 0) {
		/* what to do about it: apmatrix(8), FILES */
		diag_add(diags, DIAG_ERROR, NULL, NULL, "cannot read the ownership records in %s", why);
		sysfs_close(s);
		return r;
	}
	if (why) /* records of another boot, not trusted */
		diag_add(diags, DIAG_WARNING, NULL, NULL, "%s", why);
	/*
	 * status, diff, show during an apply: what they read is half way.  Not
	 * asked under apply's own lock (locked): no other apply can run then, and
	 * reading /proc/locks is dear: to list the locks the kernel takes its
	 * file-lock semaphore for writing, which waits for an RCU grace period
	 * (11-16 ms for the converged apply's one read, a third of its time on
	 * the simulated 64-card host) and holds up every flock() meanwhile.
	 */
	holder = locked ? 0 : owner_lock_holder(rundir_path());
	if (holder > 0 && holder != (long)getpid())
		diag_add(diags, DIAG_WARNING, NULL, NULL,
			 "an apply is running (process %ld): the host is changing while this reads it; run this again "
			 "when it is done",
			 holder);
	r = live_read(s, o, flags, ret_live, diags);
	if (r == -ENODEV)
		diag_add(diags, DIAG_ERROR, NULL, NULL, NO_AP_BUS_FMT, sysfs_root_path());
	/*
	 * A failed listing of the mdevs (or of the AP devices, or an mdev's
	 * assignment not read) shows what apmatrix made as gone: its records
	 * would be pruned and a plan would create the mdevs again.  The host
	 * cannot be read, as when the records cannot: nothing is planned.
	 */
	if (r == 0 && (*ret_live)->incomplete_errno) {
		int e = (*ret_live)->incomplete_errno;

		diag_add(diags, DIAG_ERROR, NULL, NULL,
			 "cannot read %s/%s: %s (%s): the host read is incomplete, so what apmatrix manages cannot be "
			 "told from it",
			 sysfs_root(s), (*ret_live)->incomplete_path, strerror(e), errno_name(e));
		r = -e;
	}
	if (*ret_live)
		log_debug("host: %s profile, %zu cards, %zu queues, %zu vfio_ap mdevs",
			  kernel_profile_to_string((*ret_live)->profile), (*ret_live)->n_cards, (*ret_live)->n_queues,
			  (*ret_live)->n_mdevs);
	*ret_sysfs = s;
	*ret_owner = o;
	return r;
}

/*
 * "no guest 'gues1' in the configuration; did you mean 'guest1'?", or the
 * declared guests when none is that close (at most two edits).
 */
static void no_such_guest(const struct desired *d, const char *name)
{
	_cleanup_free_ char *list = xstrdup(""), *shown = escape_for_message(name); /* argv: any bytes */
	const char *best = NULL;
	size_t best_d = 3;

	for (size_t i = 0; i < d->n_guests; i++) {
		size_t e = edit_distance(name, d->guests[i].name);
		char *t;

		if (e < best_d) {
			best_d = e;
			best = d->guests[i].name;
		}
		if (i < 8) {
			t = xasprintf("%s%s%s", list, i ? ", " : "", d->guests[i].name);
			free(list);
			list = t;
		}
	}
	if (best)
		log_error("no guest '%s' in the configuration; did you mean '%s'?", shown, best);
	else if (d->n_guests)
		log_error("no guest '%s' in the configuration (it declares %s%s)", shown, list,
			  d->n_guests > 8 ? ", ..." : "");
	else
		log_error("no guest '%s' in the configuration (it declares none)", shown);
}

static void desired_freep_(struct desired **p)
{
	desired_free(*p);
}

static bool on_ap_host(void)
{
	_cleanup_free_ char *p = xasprintf("%s/bus/ap", sysfs_root_path());
	return access(p, F_OK) == 0;
}

static int exit_for_load(int r)
{
	if (r == -EINVAL)
		return EX_DATAERR;
	return r < 0 ? 1 : 0;
}

static int cmd_check(int argc, char **argv)
{
	struct diag_list diags = {};
	_cleanup_(desired_freep_) struct desired *d = NULL;
	int r, ret;

	if (argc > 1)
		return usage_error("check takes no argument, got '%s'", argv[1]);
	bool incomplete, host_failed = false, host_checked = false, ap_host = false;

	r = load_desired(&diags, &d, NULL, &incomplete);
	/* a file cut short: no host checks and no guests from what was read of it (as show) */
	if (d && incomplete)
		d = desired_free(d);
	if (d && !arg_no_live)
		ap_host = on_ap_host();
	if (ap_host) {
		struct sysfs *s = NULL;
		struct owner_db *o = NULL;
		struct live *l = NULL;
		struct plan *p = NULL;

		bool invalid = diag_count(&diags, DIAG_ERROR);

		if (load_live(&s, &o, 0, false, &l, &diags) == 0) {
			struct diag_list pd = {}; /* the plan's; its marks name files interned in diags */

			hostcheck(d, l, invalid, &diags);
			(void)plan_build(d, l, 0, &p, &pd); /* only its diagnostics count here */
			plan_free(p);
			/*
			 * An invalid configuration is never applied: the plan's
			 * notes (mask bits that stay taken, master keys to
			 * zeroize) tell what an apply would do, and none will
			 * run.  Its errors and warnings are problems of their own
			 * and stay.  Not only the guests with errors: the plan of
			 * the others depends on them (an overlap, a mask bit).
			 */
			if (diag_count(&diags, DIAG_ERROR) || diag_count(&pd, DIAG_ERROR))
				diag_drop_severity(&pd, DIAG_NOTE); /* errors only the host tells too (a range, hostcheck's) */
			diag_move(&diags, &pd);
			host_checked = true;
		} else
			host_failed = !invalid; /* a host that cannot be read is no invalid configuration */
		live_free(l);
		owner_free(o);
		sysfs_close(s);
	}
	ret = host_failed ? 1 : diag_count(&diags, DIAG_ERROR) ? EX_DATAERR : exit_for_load(r);
	if (arg_json) {
		diag_sort(&diags);
		render_check_json(stdout, d, &diags, ret == 0, host_checked, NULL);
	} else {
		print_diags(&diags);
		if (ret == 0 && !arg_quiet && d) {
			unsigned n = 0;
			for (size_t i = 0; i < d->n_guests; i++)
				n += matrix_apqn_count(&d->guests[i].matrix);
			printf("ok: %zu guest%s, %u APQN%s, no conflicts", d->n_guests, d->n_guests == 1 ? "" : "s", n,
			       n == 1 ? "" : "s");
			/* as show's "(configuration only)": a CI run off the host must not read as the host's ok */
			if (arg_no_live)
				fputs(" (configuration only: --no-live, host not checked)", stdout);
			else if (!ap_host)
				printf(" (configuration only: no AP bus under %s/bus/ap, host not checked)",
				       sysfs_root_path());
			fputc('\n', stdout);
		}
	}
	diag_list_done(&diags);
	return ret;
}

/* Everything a command that looks at the host holds. */
struct host {
	struct sysfs *sysfs;
	struct owner_db *owner;
	struct live *live;
};

/* status and show: the guests without an mdev whose create failed in the last apply run (RUNDIR/failed) */
static void note_failed_creates(struct desired *d, const struct host *h)
{
	for (size_t i = 0; h->owner && h->live && i < d->n_guests; i++) {
		struct desired_guest *g = &d->guests[i];
		const char *err = NULL;

		if (g->uuid_valid && !live_find_mdev(h->live, g->uuid))
			err = owner_create_failed(h->owner, g->uuid);
		g->create_failed = err ? arena_strdup(&d->arena, err) : NULL;
	}
}

static void host_done(struct host *h)
{
	h->live = live_free(h->live);
	h->owner = owner_free(h->owner);
	h->sysfs = sysfs_close(h->sysfs);
}

/*
 * flags: enum live_read_flags, LIVE_READ_DETAILS for the commands that draw the host;
 * locked: apply's read, under its lock
 */
static int host_read(struct host *h, unsigned flags, bool locked, struct diag_list *diags)
{
	return load_live(&h->sysfs, &h->owner, flags, locked, &h->live, diags);
}

/*
 * status and show build no plan of their own: the guests a plan leaves out
 * (an mdev holds queues they want, one apmatrix does not manage or that of a
 * guest left out for its errors; errors of their own) are refused here as
 * hostcheck_mdevctl() refuses its own (after it), with the short why, and
 * the plan's errors about them go to diags, as diff says them.  The plan's
 * other diagnostics are diff's to give (check gives them too).
 */
static void plan_left_out(struct desired *d, const struct live *l, struct diag_list *diags)
{
	struct diag_list pd = {}; /* its marks name files interned in diags (as check's) */
	struct plan *p = NULL;
	bool *out = xcalloc(d->n_guests ? d->n_guests : 1, sizeof(*out));

	(void)plan_build(d, l, 0, &p, &pd);
	for (size_t i = 0; i < p->n_left_out; i++)
		for (size_t k = 0; k < d->n_guests; k++) {
			struct desired_guest *g = &d->guests[k];

			if (g->refused || !streq(g->name, p->left_out[i].guest))
				continue;
			g->refused = true;
			g->refused_why = arena_strdup(&d->arena, p->left_out[i].why);
			out[k] = true;
		}
	for (size_t i = 0; i < pd.n; i++) {
		const struct diag *e = &pd.items[i];

		for (size_t k = 0; e->severity == DIAG_ERROR && e->guest && k < d->n_guests; k++)
			if (out[k] && streq(d->guests[k].name, e->guest)) {
				diag_add(diags, e->severity, e->mark.file ? &e->mark : NULL, e->guest, "%s", e->message);
				break;
			}
	}
	free(out);
	plan_free(p);
	diag_list_done(&pd);
}

static int cmd_show(int argc, char **argv)
{
	struct diag_list diags = {};
	_cleanup_(desired_freep_) struct desired *d = NULL;
	struct host h = {};
	struct render_opts o = { .color = use_color(stdout) };
	static const struct desired_guest not_compiled; /* GUEST not compiled: the configuration has errors */
	const struct desired_guest *g = NULL;
	bool incomplete, host_failed = false;
	int r, ret;

	if (argc > 2)
		return usage_error("show takes at most one guest name, got '%s'", argv[2]);
	r = load_desired(&diags, &d, NULL, &incomplete);
	ret = diag_count(&diags, DIAG_ERROR) ? EX_DATAERR : exit_for_load(r);
	if (!arg_json) /* --json: in the document, not on stderr */
		print_diags(&diags);
	/* a file cut short (a YAML syntax error): its first half is not the configuration, nothing is drawn */
	if (!d || incomplete) {
		d = desired_free(d);
		ret = ret ? ret : 1;
		goto done;
	}
	if (argc == 2) {
		g = desired_find_guest(d, argv[1]);
		if (!g && ret) {
			/*
			 * In the file with a definition that does not compile, or
			 * not there: as guest, the configuration's errors say it
			 * all (what compiled is not the whole file, so no "did you
			 * mean", no list of its guests), and the exit status is
			 * theirs.
			 */
			g = &not_compiled; /* --json: check's document, without guests */
			goto done;
		}
		if (!g) {
			no_such_guest(d, argv[1]);
			diag_list_done(&diags);
			return EX_USAGE;
		}
	}
	/*
	 * --json: an invalid configuration gives check's document, with its
	 * errors, not the live host compared with what is left of it.
	 */
	if (!arg_no_live && !(arg_json && ret) && on_ap_host()) {
		struct diag_list ld = {};

		if (host_read(&h, LIVE_READ_DETAILS, false, &ld) < 0) {
			ret = ret ? ret : 1;
			host_done(&h); /* what a failed read left */
			host_failed = true;
		} else {
			/* as status (no records given: show changes nothing); --json: files interned in its list */
			(void)hostcheck_mdevctl(d, h.live, NULL, arg_json ? &diags : &ld);
			plan_left_out(d, h.live, arg_json ? &diags : &ld); /* as diff: an mdev holds its queues */
			(void)apply_check_cards(h.owner, h.live, false, &ld); /* as status: a card swapped under a guest */
			(void)hostcheck_vfio(d, h.live, &ld); /* as check: no mdev can be created */
			note_failed_creates(d, &h); /* as status */
			if (arg_json) {
				hostcheck_keep(d, h.live, &diags); /* as check; the text draws it (~) */
				hostcheck_lpar(d, h.live, &diags); /* as status --json */
			}
		}
		if (arg_json)
			diag_move(&diags, &ld);
		else
			print_diags(&ld);
		diag_list_done(&ld);
	}
done:
	/*
	 * --json: the status document when the host was read or could not be
	 * (its diagnostics then say why), check's otherwise; the messages are
	 * in the document, not on stderr.
	 */
	if (arg_json) {
		diag_sort(&diags);
		if (h.live || host_failed)
			render_status_json(stdout, d, h.live, g, &diags);
		else
			render_check_json(stdout, d, &diags, ret == 0, false, g); /* the host was not read */
	} else if (!d || g == &not_compiled)
		; /* the errors said why */
	else if (g)
		render_guest(stdout, d, g, h.live, &o);
	else {
		render_grid(stdout, d, h.live, &o);
		for (size_t i = 0; i < d->n_guests; i++) {
			fputc('\n', stdout);
			render_guest(stdout, d, &d->guests[i], h.live, &o);
		}
	}
	host_done(&h);
	diag_list_done(&diags);
	return ret;
}

static void run_done(struct run *run)
{
	free(run->uuids);
	free(run->failed_creates);
	apply_history_done(&run->failed);
	shown_done(&run->held);
	shown_done(&run->left_out);
	config_inputs_done(&run->inputs);
	if (run->json_actions)
		fclose(run->json_actions);
	if (run->json_diags)
		fclose(run->json_diags);
	free(run->json_actions_buf);
	free(run->json_diags_buf);
}

static const char *const apply_outcome_json[] = {
	[APPLY_DONE] = "done",
	[APPLY_FAILED] = "failed",
	[APPLY_SKIPPED] = "skipped",
	[APPLY_PENDING] = "pending",
};

/*
 * Signals while apply holds its locks (DESIGN §5: a run stopped halfway is
 * repaired by the next; here it also never stops inside a step).
 * SIGTERM (systemd stopping the unit, shutdown), SIGINT (Ctrl-C) and SIGHUP
 * are blocked from the start of apply until it has released its locks, and
 * taken (sigtimedwait, no handler: no write sees EINTR) only between two
 * actions: the action under way finishes, its ownership records are saved,
 * and the plan stops before its next action.  apply then saves what it
 * learnt, releases the locks, says how far it got and exits 128 + N.  A
 * signal the parent ignores (nohup) stays ignored.  Before the locks, one
 * that comes while apply reads the configuration is taken once it is read,
 * and one that comes while apply waits for the locks ends the wait
 * (owner_lock() returns -EINTR): nothing was changed, and apply says so and
 * exits 128 + N too.  After the locks nothing is written, and the signals
 * get their default action back: a second signal that came during the
 * wind-down ends apmatrix as soon as the locks are released.
 */
static sigset_t stop_signals;
static sigset_t stop_saved_mask;
static int stop_signo; /* the signal taken, 0 if none */

static const char *signal_name(int sig)
{
	switch (sig) {
	case SIGTERM:
		return "SIGTERM";
	case SIGINT:
		return "SIGINT";
	case SIGHUP:
		return "SIGHUP";
	default:
		return "a signal";
	}
}

static void stop_signals_hold(void)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };

	sigemptyset(&stop_signals);
	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++) {
		struct sigaction sa;

		/* blocked, an ignored signal would be queued and taken: leave it ignored */
		if (sigaction(sigs[i], NULL, &sa) == 0 && sa.sa_handler == SIG_IGN)
			continue;
		sigaddset(&stop_signals, sigs[i]);
	}
	(void)sigprocmask(SIG_BLOCK, &stop_signals, &stop_saved_mask);
}

/* apply_stop_fn: the signal that came since the locks were taken, 0 if none */
static int stop_signal_taken(void *userdata)
{
	static const struct timespec now = { 0, 0 };
	int sig;

	(void)userdata;
	if (stop_signo)
		return stop_signo;
	do
		sig = sigtimedwait(&stop_signals, NULL, &now);
	while (sig < 0 && errno == EINTR);
	if (sig > 0)
		stop_signo = sig;
	return stop_signo;
}

static void stop_signals_release(void)
{
	(void)sigprocmask(SIG_SETMASK, &stop_saved_mask, NULL);
}

/* "; guests 'g2', 'g3' left out (see their errors)" for the summary, or NULL: the Ansible log's last line */
static char *left_out_note(const struct shown *left)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f;

	if (!left->n)
		return NULL;
	f = open_memstream(&out, &len);
	if (!f)
		return NULL;
	fprintf(f, "; guest%s ", left->n == 1 ? "" : "s");
	for (size_t i = 0; i < left->n; i++)
		fprintf(f, "%s'%s'", i ? ", " : "", left->lines[i]);
	fprintf(f, " left out (see %s errors)", left->n == 1 ? "its" : "their");
	fclose(f);
	return out;
}

/*
 * apply --json: one document on standard output, also when apply stops
 * early (an invalid configuration, no AP bus, the locks): what it did and
 * the diagnostics; standard error keeps the messages, one per line.
 */
static void apply_json_print(struct run *run, const struct apply_result *total)
{
	if (!run->json_actions)
		return;
	fflush(run->json_actions);
	fflush(run->json_diags);
	printf("{\"version\":%d,\"document\":\"apply\",\"changed\":%s,\"done\":%zu,\"failed\":%zu,"
	       "\"skipped\":%zu,\"pending\":%zu,\"interrupted\":",
	       RENDER_JSON_VERSION, total->done ? "true" : "false", total->done, total->failed, total->skipped,
	       total->pending);
	json_string(stdout, total->stopped ? signal_name(total->stopped) : NULL);
	fputs(",\"left_out\":[", stdout);
	for (size_t i = 0; i < run->left_out.n; i++) {
		if (i)
			fputc(',', stdout);
		json_string(stdout, run->left_out.lines[i]);
	}
	printf("]");
	printf(",\"actions\":[%s],\"diagnostics\":[%s]}\n", run->json_actions_buf ? run->json_actions_buf : "",
	       run->json_diags_buf ? run->json_diags_buf : "");
}

/*
 * Load config (unless *ret_d is already loaded) and host and build the plan;
 * returns an exit code or -1 to go on.  run: what apply's earlier rounds
 * created (NULL outside apply).
 */
static int prepare(struct diag_list *diags, struct desired **ret_d, struct host *h, struct plan **ret_p,
		   struct run *run)
{
	int r;

	if (!*ret_d) {
		r = load_desired(diags, ret_d, run ? &run->inputs : NULL, NULL);
		if (diag_count(diags, DIAG_ERROR) || r < 0) {
			if (!arg_json) { /* with --json the caller prints them in its document */
				print_diags(diags);
				if (run) /* apply's read under the lock; diff never changes anything */
					log_error("nothing was changed");
			}
			return diag_count(diags, DIAG_ERROR) ? EX_DATAERR : 1;
		}
	}
	r = host_read(h, 0, run != NULL, diags);
	if (r < 0) {
		if (!arg_json)
			print_diags(diags);
		return 1;
	}
	for (size_t i = 0; run && i < run->n; i++)
		live_mark_fresh(h->live, run->uuids[i]);
	/*
	 * apply keeps what it learnt of the kernel's filter (owner_db.kept_out)
	 * and what the cards of its mdevs are (owner_db.cards); diff writes nothing
	 */
	/*
	 * as check: a guest that mdevctl's boot start races is left out; an mdev
	 * apmatrix made that mdevctl now defines, no longer declared, is handed over
	 */
	bool changed = hostcheck_mdevctl(*ret_d, h->live, run ? h->owner : NULL, diags);
	changed |= apply_prune_owner(h->owner, h->live);
	changed |= apply_check_cards(h->owner, h->live, run != NULL, diags);
	changed |= owner_unsaved(h->owner); /* a version 2 state file is written back as version 1 */
	if (changed && run && owner_save(h->owner) < 0)
		log_warning("cannot update the ownership records in %s", rundir_path());
	hostcheck_lpar(*ret_d, h->live, diags); /* as check: what this LPAR lacks is assigned, not silently */
	(void)plan_build(*ret_d, h->live, (arg_force ? PLAN_FORCE : 0) | (run ? PLAN_DEFER_UNCERTAIN : 0), ret_p,
			 diags);
	return -1;
}

static int cmd_diff(int argc, char **argv)
{
	struct diag_list diags = {};
	_cleanup_(desired_freep_) struct desired *d = NULL;
	struct host h = {};
	struct plan *p = NULL;
	struct render_opts o = { .color = use_color(stdout), .sysfs_root = sysfs_root_path() };
	int ret;

	if (argc > 1)
		return usage_error("diff takes no argument, got '%s'", argv[1]);
	ret = prepare(&diags, &d, &h, &p, NULL);
	if (ret < 0) {
		hostcheck_keep(d, h.live, &diags); /* as check: where host.keep is not in effect */
		if (arg_json) {
			diag_sort(&diags);
			render_plan_json(stdout, p, &diags);
		} else {
			print_diags(&diags);
			/*
			 * -q: the exit status says it.  An empty plan beside
			 * errors (vfio_ap not loaded, a guest refused) is no
			 * "0 changes", nor a script that does nothing: the
			 * errors said why, and the host is not as declared.
			 */
			if (p->n == 0 && diag_count(&diags, DIAG_ERROR))
				;
			else if (arg_shell)
				render_plan_shell(stdout, p, &o);
			else if (!arg_quiet)
				render_plan_text(stdout, p, &o);
		}
		ret = diag_count(&diags, DIAG_ERROR) ? 1 : plan_is_empty(p) ? 0 : EXIT_CHANGES;
	} else if (arg_json) {
		/* no plan (invalid configuration, unreadable host): still one JSON document */
		struct plan none = {};

		diag_sort(&diags);
		render_plan_json(stdout, &none, &diags);
	}
	plan_free(p);
	host_done(&h);
	diag_list_done(&diags);
	return ret;
}

static void report(void *userdata, const struct action *a, enum apply_outcome outcome, int err,
		   const char *explanation)
{
	_cleanup_free_ char *s = render_action(a);
	struct run *c = userdata;
	/* why it failed or was skipped: the same words in the log and the document */
	const char *why = explanation ? explanation : outcome == APPLY_FAILED ? strerror(err) : NULL;

	/* held back in an earlier round for the same reason: said then (the count is the last round's) */
	if (outcome == APPLY_PENDING && c && shown_before(&c->held, s))
		return;
	if (c && c->json_actions) {
		FILE *f = c->json_actions;
		const char *msg = outcome == APPLY_FAILED || outcome == APPLY_SKIPPED ? why : NULL;

		if (c->n_json_actions++)
			fputc(',', f);
		render_action_json_open(f, a, false);
		fprintf(f, ",\"round\":%u,\"outcome\":\"%s\",\"errno\":", c->round, apply_outcome_json[outcome]);
		json_string(f, outcome == APPLY_FAILED ? errno_name(err) : NULL);
		fputs(",\"message\":", f);
		json_string(f, msg);
		fputc('}', f);
	}
	if (c && outcome == APPLY_FAILED && a->kind == ACTION_CREATE_MDEV) {
		struct owner_failed_create *fc;

		c->failed_creates = xgrow(c->failed_creates, &c->cap_failed_creates, c->n_failed_creates + 1,
					  sizeof(*c->failed_creates));
		fc = &c->failed_creates[c->n_failed_creates++];
		memcpy(fc->uuid, a->uuid, sizeof(fc->uuid));
		/* an errno without a name (errno_name()'s "E?") is recorded as none */
		snprintf(fc->err, sizeof(fc->err), "%s", strerrorname_np(err) ? strerrorname_np(err) : "");
	}
	switch (outcome) {
	case APPLY_DONE:
		if (!arg_quiet && !(c && c->json_actions))
			printf("%s\n", s);
		if (c && a->kind == ACTION_CREATE_MDEV) {
			c->uuids = xgrow(c->uuids, &c->cap, c->n + 1, sizeof(*c->uuids));
			memcpy(c->uuids[c->n++], a->uuid, sizeof(a->uuid));
		}
		break;
	case APPLY_PENDING:
		if (a->file) {
			/* at the guest's declaration, as the diagnostics are */
			struct diag dg = { .severity = DIAG_WARNING,
					   .mark = { .file = a->file, .line = a->line, .col = a->column },
					   .message = (char *)(s + 2) };
			_cleanup_free_ char *t = diag_format(&dg);

			log_line(LOG_LEVEL_WARNING, t);
		} else
			log_warning("%s", s + 2);
		break;
	case APPLY_FAILED:
		log_error("%s: %s (%s)", s + 2, why, errno_name(err));
		break;
	case APPLY_SKIPPED:
		log_warning("%s: %s", s + 2, why ? why : "skipped");
		break;
	}
	fflush(stdout);
}

/* What to do about the pending actions: --force hot plugs; a removal, or a change on a static kernel, waits for the guest to stop. */
static const char *pending_advice(const struct apply_result *r)
{
	if (r->pending_maybe)
		return "apmatrix cannot tell whether a guest is running; see the warnings";
	if (r->pending_force == r->pending)
		return "a guest is running; use --force";
	if (r->pending_force == 0)
		return "a guest is running; stop it, then apply again";
	return "guests are running; --force does some, the rest wait until their guest stops";
}

/*
 * How many rounds apply's loop may plan (see there): 4, one more for each
 * guest that stopped meanwhile, and one each for the round that gives back
 * after a failure, the rest of a staged plan, and the read after the host
 * moved during the last round.
 */
static int rounds_allowed(int stops, bool settling, bool staged_once, bool confirming)
{
	return 4 + stops + settling + staged_once + confirming;
}

/*
 * apply stops before it starts, or ends with the host changed after its last
 * plan: the message on standard error, and in the --json document
 */
static void _printf_(2, 3) apply_stop(struct run *run, const char *fmt, ...)
{
	struct diag_list l = {};
	va_list ap;

	va_start(ap, fmt);
	diag_addv(&l, DIAG_ERROR, NULL, NULL, fmt, ap);
	va_end(ap);
	print_diags_once(&l, NULL, run);
	diag_list_done(&l);
}

/* a signal came before the locks (WHEN): apply stops there, having changed nothing */
static bool apply_stopped_early(struct run *run, struct apply_result *total, int *ret, const char *when)
{
	if (!stop_signal_taken(NULL))
		return false;
	total->stopped = stop_signo;
	*ret = EXIT_SIGNAL_BASE + stop_signo;
	apply_stop(run, "interrupted by %s %s: nothing was changed", signal_name(stop_signo), when);
	return true;
}

/*
 * Who holds a lock (the PID from the s390-tools lock file, or from /proc/locks
 * for apmatrix's own): "process 1234 (chzdev)", for the message.
 * The comm is the holder's to choose (/proc/self/comm, PR_SET_NAME), newlines
 * and escape sequences included: all of it is read, the kernel's closing
 * newline taken off, and the rest escaped, so that the message stays one line.
 */
static char *lock_holder(long pid)
{
	_cleanup_free_ char *path = NULL, *shown = NULL;
	char comm[64] = ""; /* 15 bytes and a newline (TASK_COMM_LEN) */
	size_t n = 0;
	FILE *f;

	if (pid <= 0)
		return xstrdup("another process");
	path = xasprintf("/proc/%ld/comm", pid);
	f = fopen(path, "re");
	if (f) {
		n = fread(comm, 1, sizeof(comm) - 1, f);
		fclose(f);
	}
	comm[n] = '\0';
	if (n > 0 && comm[n - 1] == '\n')
		comm[n - 1] = '\0';
	if (!*comm)
		return xasprintf("process %ld", pid);
	shown = escape_for_message(comm);
	return xasprintf("process %ld (%s)", pid, shown);
}

/* The lock owner_lock() failed on: busy (the s390-tools lock), else apmatrix's own; malloc'd */
static char *lock_path(const char *busy)
{
	return busy ? xstrdup(busy) : xasprintf("%s/lock", rundir_path());
}

/* The lock apply waits for and who holds it: "PATH: process N (comm) holds it"; malloc'd */
static char *lock_busy(const char *busy)
{
	_cleanup_free_ char *path = lock_path(busy);
	long pid = busy ? owner_s390_lock_holder(busy) : owner_lock_holder(rundir_path());
	_cleanup_free_ char *holder = busy || pid > 0 ? lock_holder(pid) : xstrdup("another apmatrix apply");

	return xasprintf("%s: %s holds it", path, holder);
}

static int cmd_apply(int argc, char **argv)
{
	struct diag_list diags = {};
	_cleanup_(desired_freep_) struct desired *d = NULL;
	struct host h = {};
	struct plan *p = NULL;
	struct owner_lock *lock = NULL;
	struct apply_result res = {}, total = {};
	struct run run = {};
	struct shown shown = {};
	struct diag_list load_diags = {}; /* of the load that d comes from */
	bool tried = false, reread;
	bool records_unsaved = false; /* a save of the records after a write failed: the run stopped, failed */
	const char *busy = NULL;
	_cleanup_free_ char *lock_why = NULL;
	int ret, r;

	if (arg_dry_run)
		return cmd_diff(argc, argv);
	if (argc > 1)
		return usage_error("apply takes no argument, got '%s'", argv[1]);
	if (arg_json) {
		run.json_actions = open_memstream(&run.json_actions_buf, &run.json_actions_len);
		run.json_diags = open_memstream(&run.json_diags_buf, &run.json_diags_len);
		if (!run.json_actions || !run.json_diags) {
			log_error("cannot build the JSON document: %s", strerror(errno));
			run_done(&run);
			return 1;
		}
	}

	/* one that comes from here on is taken between two steps (stop_signals) */
	stop_signals_hold();
	/* Validate before locking: a bad config never waits and never writes. */
	r = load_desired(&diags, &d, &run.inputs, NULL);
	if (apply_stopped_early(&run, &total, &ret, "while reading the configuration")) {
		diag_list_done(&diags);
		goto early;
	}
	if (diag_count(&diags, DIAG_ERROR) || r < 0) {
		/* counted before diag_list_done(): an unreadable or refused file is 65 too, as in check */
		ret = r == -EINVAL || diag_count(&diags, DIAG_ERROR) ? EX_DATAERR : 1;
		print_diags_once(&diags, &shown, &run);
		log_error("nothing was changed");
		diag_list_done(&diags);
		goto early;
	}
	print_diags_once(&diags, &shown, &run); /* the read under the lock repeats its warnings: said once */
	load_diags = diags; /* holds the file names that d's marks point to */

	/*
	 * No AP bus, nothing to apply to: said here, like diff and status say
	 * it, before the locks (which would create the run directory) and
	 * without a "0 changes" summary.
	 */
	ret = 1;
	if (!on_ap_host()) {
		if (!apply_stopped_early(&run, &total, &ret, "before taking the locks"))
			apply_stop(&run, NO_AP_BUS_FMT, sysfs_root_path());
		goto early;
	}
	if (apply_stopped_early(&run, &total, &ret, "before taking the locks"))
		goto early;
	/*
	 * One that comes while apply waits for the locks ends the wait: -EINTR.
	 * A wait says so when it starts: under Ansible or systemd it can last
	 * --wait seconds, and a silent one looks like a hang.
	 */
	r = owner_lock(rundir_path(), s390_lock_path(), 0, &lock, &busy, &lock_why);
	if (r == -EWOULDBLOCK && arg_wait > 0) {
		_cleanup_free_ char *what = lock_busy(busy);

		log_notice("waiting up to %d s for the lock %s", arg_wait, what);
		r = owner_lock(rundir_path(), s390_lock_path(), arg_wait * 1000, &lock, &busy, &lock_why);
	}
	if (r == -EINTR && stop_signal_taken(NULL)) {
		stop_signals_release();
		total.stopped = stop_signo;
		ret = EXIT_SIGNAL_BASE + stop_signo;
		apply_stop(&run, "interrupted by %s while waiting for the locks: nothing was changed",
			   signal_name(stop_signo));
		goto early;
	}
	if (r < 0) {
		stop_signals_release();

		if (r == -EWOULDBLOCK || r == -ETIMEDOUT) {
			_cleanup_free_ char *what = lock_busy(busy);

			/* busy, nothing changed: a later run may succeed (Ansible retries on it) */
			ret = EX_TEMPFAIL;
			apply_stop(&run, "cannot take the lock %s (waited %d s; see --wait)", what, arg_wait);
		} else {
			_cleanup_free_ char *path = lock_path(busy);
			struct stat st;

			if (lock_why) /* the run directory or one on the way is not trusted: nothing was made */
				apply_stop(&run, "cannot take the lock %s: %s", path, lock_why);
			else if ((r == -EACCES || r == -EPERM) && geteuid() != 0)
				apply_stop(&run, "cannot take the lock %s: %s; apply changes the host and runs as root",
					   path, strerror(-r));
			else if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode))
				apply_stop(&run, "cannot take the lock %s: it is %s, not a lock file; it is no lock of "
					   "apmatrix or s390-tools: move it away",
					   path, S_ISLNK(st.st_mode) ? "a symbolic link" : S_ISDIR(st.st_mode) ? "a directory"
					   : S_ISFIFO(st.st_mode) ? "a FIFO" : "a special file");
			else
				apply_stop(&run, "cannot take the lock %s: %s", path, strerror(-r));
		}
		goto early;
	}
	/*
	 * Under the lock the configuration is what counts: it is parsed again
	 * when a file changed while we waited (the same trust checks, the same
	 * drop-ins), and otherwise what was validated is kept.  It is then
	 * kept for every round and the verification: an edit made while we
	 * work is the next run's job, not a change of the host (it would make
	 * the verification fail).  The host is read again in every round:
	 * another round runs when the host changed while we worked (hot plug,
	 * another tool), so that a start request merged into this run is not
	 * lost, and on hosts whose interface can only be told from an existing
	 * mdev (live.h, profile_certain), where the mdevs are created first.
	 */
	{
		const char *path, *dir;

		config_paths(&path, &dir);
		reread = !config_inputs_same(&run.inputs, path, dir);
		if (!reread) {
			log_debug("the configuration did not change while apply waited for the locks");
		} else {
			log_debug("the configuration changed while apply waited for the locks; reading it again");
			d = desired_free(d);
			diag_list_done(&load_diags);
		}
	}
	/*
	 * The libvirt hook's request (a guest stopped) made before the host is
	 * read is covered by that read; one made while apply runs is taken
	 * after its last round: see owner_rerun_take().
	 */
	(void)owner_rerun_take(rundir_path());
	for (int pass = 0, rounds = 0;; pass++) {
		bool settled_run = false; /* the rounds ended by planning a fresh read, not by an error */
		bool settling = false;    /* the round that gives back what failed guests no longer need */
		bool staged_once = false; /* a round created the mdevs first: the rest is planned after it */
		bool confirming = false;  /* the host moved while the last round read it: one more read tells */
		bool kept_changing = false; /* the host changed during the last round allowed */

		/* what the last apply round left pending: the mdevs, and whether a host action */
		_cleanup_(strv_freep) char **held_mdevs = NULL;
		/* of those, the mdevs a running guest held then */
		_cleanup_(strv_freep) char **held_running = NULL;
		bool held_host = false;

		/*
		 * At most 4 rounds, one more for each guest that stopped
		 * meanwhile (up to 4), one more for the round that gives back
		 * after a failure, so that a failure in the last of them still
		 * gets it, and one more for the round that plans the rest after
		 * the mdevs were created first (staged), so that a staging in
		 * the last of them does not leave the new mdevs empty.  The
		 * round that gives back ends the loop, or plans once more when
		 * the host moved while it was read; settling and staged_once
		 * stay set, so each grows the limit by one round only.  A
		 * change of the host during the last round is not planned for
		 * (kept_changing); where that round wrote nothing, one more
		 * read (confirming) tells whether the change matters: the
		 * kernel's uevent number is the whole machine's, and a disk or
		 * a network interface moves it too.
		 */
		for (int round = 0, replans = 0, stops = 0; round < rounds_allowed(stops, settling, staged_once, confirming);
		     round++) {
			size_t full_n;
			bool staged;

			diags = (struct diag_list){};
			run.round = (unsigned)++rounds;
			/* the last round says which guests are left out: a card that came since lets one in */
			shown_done(&run.left_out);
			run.left_out = (struct shown){};
			ret = prepare(&diags, &d, &h, &p, &run);
			if (ret >= 0) {
				host_done(&h); /* what a failed read left */
				if (arg_json) /* prepare() printed them otherwise */
					print_diags_once(&diags, &shown, &run);
				diag_list_done(&diags);
				break;
			}
			/*
			 * The round after a guest's step failed only gives back: a
			 * plan that would take (the masks chosen anew without the
			 * failed guest's wishes) or change more is not this run's.
			 * Its messages were said by the full plan; the failed guest
			 * left as it is may make others look refused (an APQN its
			 * mdev still holds), which they are not.
			 */
			if (settling && !plan_gives_back_only(p)) {
				log_debug("the round after the failure would do more than give back: not made");
				p = plan_free(p);
				host_done(&h);
				diag_list_done(&diags);
				settled_run = true;
				break;
			}
			if (!settling)
				print_diags_once(&diags, &shown, &run);
			/* what moved in the last round asks for changes: the rounds are used up */
			if (confirming && p->n > p->n_pending) {
				log_debug("the read after the last round has %zu change%s to make: not made", p->n - p->n_pending,
					  p->n - p->n_pending == 1 ? "" : "s");
				p = plan_free(p);
				host_done(&h);
				diag_list_done(&diags);
				kept_changing = true;
				break;
			}
			full_n = p->n;
			staged = false;
			if (!h.live->profile_certain) {
				for (size_t i = 0; i < p->n; i++)
					if (p->actions[i].phase > PHASE_CREATE_MDEV) {
						staged = i > 0 && p->actions[i - 1].phase == PHASE_CREATE_MDEV;
						if (staged)
							p->n = i;
						break;
					}
			}
			r = apply_plan(h.sysfs, h.owner, p, h.live, &run.failed, report, stop_signal_taken, &run, &res);
			tried = true;
			p->n = full_n;
			total.done += res.done;
			total.failed += res.failed;
			total.skipped += res.skipped;
			total.writes += res.writes;
			total.left = res.left;
			total.stopped = res.stopped;
			for (size_t i = p->n; res.stopped && i < full_n; i++)
				total.left += !p->actions[i].pending; /* the rest of a staged plan */
			/* the round that gives back plans no failed guest: what they wait for was counted before */
			if (!settling || res.pending > total.pending) {
				total.pending = res.pending;
				total.pending_force = res.pending_force;
				total.pending_maybe = res.pending_maybe;
			}
			ret = diag_count(&diags, DIAG_ERROR) || total.failed ? 1 : res.pending ? EXIT_CHANGES : 0;
			/*
			 * A round that wrote nothing has no verification to notice a
			 * change of the host (a card that came while apply read it):
			 * the kernel's uevent number tells, and the start request that
			 * the event made was merged into this run.
			 */
			bool moved = !res.stopped && res.done == 0 && res.failed == 0 && live_host_changed(h.live);
			if (!moved && !res.stopped && res.done == 0 && !total.failed)
				keep_after(d, h.live, &shown, &run); /* the host as read is the host this run leaves */
			strv_free(held_mdevs);
			held_mdevs = pending_mdevs(p, &held_host);
			strv_free(held_running);
			held_running = running_mdevs(h.live, held_mdevs);
			p = plan_free(p);
			host_done(&h);
			if (pass == 0 && round == 0 && reread)
				load_diags = diags; /* read under the lock: holds the file names that d's marks point to */
			else
				diag_list_done(&diags);
			/*
			 * A write made, or a claim withdrawn, that the records could
			 * not keep: a next round would read them claiming what this
			 * run gave back or removed, or an mdev it failed to create
			 * (another tool's, EEXIST).  The run stops here, as failed.
			 */
			if (res.unsaved) {
				apply_stop(&run,
					   "cannot save the ownership records in %s: %s: they may still claim what this run "
					   "gave back, removed or failed to create; apply stopped; make room there and run "
					   "apmatrix apply again",
					   rundir_path(), strerror(-res.unsaved_error));
				records_unsaved = true;
				settled_run = false;
				break;
			}
			/*
			 * A guest that failed, or that the plan refused (an error in
			 * diags), or a failed mask write, does not keep the other guests'
			 * new mdevs empty: the boot run is the one that libvirt waits for.
			 * What failed is not tried again (run.failed), and what needs it
			 * is skipped.  A round that did nothing ends the run, unless the
			 * host changed while it was read (moved, above); so does a signal.
			 * In the last round allowed, what changed is left for the next
			 * run (kept_changing, below): the start request its uevent made
			 * was merged into this one, so nothing starts that run by itself.
			 */
			if (moved && round + 1 < rounds_allowed(stops, settling, staged_once, confirming)) {
				log_notice("the host changed while apply read it; planning once more");
				continue;
			}
			if (moved && !confirming) {
				log_debug("the host changed while apply's last round read it; reading it once more");
				confirming = true;
				continue;
			}
			/*
			 * The read after the last round planned nothing (a change
			 * to make ended the run above); the host moved again while
			 * it read, as it does for any device's event: the run ends
			 * as it would have.  Reading again could go on as long as
			 * the machine's events do.
			 */
			if (moved)
				log_debug("the host changed again while apply read it after its last round; "
					  "that read asked for nothing");
			settled_run = !res.stopped;
			if (settling)
				break;
			/*
			 * Failed guests keep their mdevs as they are for the rest of
			 * the run (not tried again); one more round, planned with
			 * them so, gives back the mask bits and queues this run took
			 * for them that no mdev needs now, so that the host does not
			 * wait for the next run to get them back.
			 */
			if (!res.stopped && !staged && total.failed && freeze_failed(d, &run.failed)) {
				settling = true;
				continue;
			}
			if (res.stopped || res.done == 0 || (res.failed && !staged))
				break;
			settled_run = false;
			if (staged) {
				/*
				 * A second staging (every mdev gone again before 6.12,
				 * so the interface is unknown again) in the last round:
				 * staged_once grew the limit once only.
				 */
				if (staged_once && round + 1 >= rounds_allowed(stops, settling, staged_once, confirming)) {
					kept_changing = true;
					break;
				}
				staged_once = true;
				continue; /* the mdevs exist now: plan the rest with what they tell */
			}
			/*
			 * A guest left out by its errors (an absent queue before 6.0)
			 * is verified too: the card it lacks may have come meanwhile.
			 */
			if (total.failed) {
				settled_run = true;
				break;
			}
			/* verify: a fresh plan must have nothing left but pending work */
			struct diag_list vd = {};
			int k = prepare(&vd, &d, &h, &p, &run);
			size_t left_out = 0; /* adapters assigned again that the kernel still keeps out */

			for (size_t i = 0; k < 0 && i < p->n; i++) {
				const struct action *a = &p->actions[i];

				if (!a->pending && apply_history_refiltered(&run.failed, a)) {
					left_out++;
					if (a->kind != ACTION_ASSIGN_ADAPTER)
						continue;
					diag_add(&vd, DIAG_WARNING, NULL, a->guest,
						 "guest '%s': the kernel still keeps adapter 0x%02x out of the guest's "
						 "view after it was assigned again: one of its queues cannot be used "
						 "(lszcrypt -V, the kernel log); apply assigns it again once the kernel "
						 "has shown it, or after it was unassigned",
						 a->guest, a->number);
					/* so that the next runs settle instead of writing the same again */
					owner_record_kept_out(h.owner, a->uuid, a->number);
				}
			}
			if (left_out) {
				print_diags_once(&vd, &shown, &run);
				if (owner_save(h.owner) < 0)
					log_warning("cannot update the ownership records in %s", rundir_path());
			}
			bool settled = k < 0 && p->n == p->n_pending + left_out;
			/* what is left was pending in the round before: a guest stopped meanwhile */
			bool stopped_meanwhile = k < 0 && !settled && only_held_before(p, &run.failed, held_mdevs, held_host);
			/* else what waited could go ahead because of what the round wrote (a number an mdev gave up) */
			bool guest_stopped = stopped_meanwhile && any_stopped(h.live, held_running);
			if (settled) {
				keep_after(d, h.live, &shown, &run);
				/* what is left pending is what the host shows now (a guest may have started since) */
				apply_count_pending(p, &total);
				if (ret == 0 && total.pending)
					ret = EXIT_CHANGES;
			}
			p = plan_free(p);
			host_done(&h);
			diag_list_done(&vd);
			if (k >= 0) {
				ret = k;
				break;
			}
			if (settled) {
				settled_run = true;
				break;
			}
			/*
			 * Guests stopping one after the other (a host shutting down,
			 * the libvirt hook starting apply at each stop) let their
			 * changes go ahead: not a host that does not match, however
			 * often that comes, up to 4 times a run.
			 */
			if (stopped_meanwhile && stops < 4) {
				stops++;
				if (guest_stopped)
					log_notice("a guest stopped while apply ran; planning once more");
				else
					log_notice("changes that waited can go ahead after this round's; planning once more");
				continue;
			}
			if (++replans == 2) {
				log_error("the host does not match the configuration after applying");
				ret = 1;
				break;
			}
			if (round + 1 >= rounds_allowed(stops, settling, staged_once, confirming)) {
				kept_changing = true;
				break;
			}
			log_notice("the host changed while applying; planning once more");
		}
		/*
		 * A host that kept changing through the rounds a run may plan (a
		 * flapping card, another tool writing): the run did what it could,
		 * but the host it leaves is not the one it planned for.  Not a
		 * success: exit 75, as for a busy lock, a later run can succeed; a
		 * failure or an error of the run stays 1.
		 */
		if (kept_changing) {
			apply_stop(&run, "the host changed again during apply's last round: apply did not plan for "
					 "that change; run apmatrix apply again");
			if (ret != 1)
				ret = EX_TEMPFAIL;
		}
		/*
		 * A guest that stopped after the last read of the host: the hook's
		 * start request was merged into this run, and the stop made no
		 * uevent.  Its request (RUNDIR/rerun) is taken here, under the lock,
		 * when changes are left pending (what a stop can let go ahead): one
		 * more plan, as many times as guests stop meanwhile, up to 4; a
		 * request that comes later stays for the next run.
		 */
		if (!settled_run || kept_changing || !total.pending || total.stopped || stop_signal_taken(NULL) ||
		    pass == 4 || !owner_rerun_take(rundir_path()))
			break;
		log_notice("a guest stopped while apply ran; planning once more");
	}
	/*
	 * A run that wrote to the host, or tried to, says which creates failed
	 * (RUNDIR/failed: status tells such a guest from one not tried yet),
	 * after its last state write; one with none removes the file.
	 */
	if (tried && owner_save_failed_creates(rundir_path(), run.failed_creates, run.n_failed_creates) < 0)
		log_warning("cannot update the record of failed creates in %s", rundir_path());
	if (records_unsaved)
		ret = 1;
	/* a signal with no change left to stop before: the run is complete, and says so */
	if (!total.stopped && stop_signal_taken(NULL))
		log_notice("%s came when no change was left to make: apply finished its run", signal_name(stop_signo));
	owner_unlock(lock);
	if (total.stopped) {
		size_t planned = total.done + total.failed + total.left;

		ret = EXIT_SIGNAL_BASE + total.stopped;
		tried = false; /* the message below is the summary */
		if (total.done == 0 && total.failed == 0)
			apply_stop(&run, "interrupted by %s before the first of %zu change%s: nothing was changed; "
				   "run apmatrix apply again", signal_name(total.stopped), planned, planned == 1 ? "" : "s");
		else {
			_cleanup_free_ char *failed = total.failed ? xasprintf(", %zu failed", total.failed) : NULL;
			apply_stop(&run, "interrupted by %s after %zu of %zu changes%s: the host is partly applied; "
				   "run apmatrix apply again", signal_name(total.stopped), total.done, planned,
				   failed ? failed : "");
		}
	}
	stop_signals_release(); /* a second signal ends apmatrix here */
	/*
	 * No summary when the first reading of the host failed: nothing was
	 * tried, and the error said so.  Nor when the run failed and nothing
	 * was done, failed or held back (the plan's errors, such as vfio_ap not
	 * loaded, left nothing to do), or when the host kept changing and
	 * nothing was done (75): "0 changes" would read as all is well.
	 */
	if ((ret == 1 || ret == EX_TEMPFAIL) && !total.done && !total.failed && !total.skipped && !total.pending)
		tried = false;
	if (tried && !arg_json && (!arg_quiet || ret == 1)) {
		_cleanup_free_ char *left = left_out_note(&run.left_out);

		if (total.pending || total.failed) {
			_cleanup_free_ char *failed = total.failed ? xasprintf(", %zu failed, %zu skipped", total.failed,
									       total.skipped)
								   : NULL;
			_cleanup_free_ char *pending =
				total.pending ? xasprintf(", %zu pending (%s)", total.pending, pending_advice(&total)) : NULL;

			printf("%zu change%s applied%s%s%s\n", total.done, total.done == 1 ? "" : "s",
			       failed ? failed : "", pending ? pending : "", left ? left : "");
		} else
			printf("%zu change%s%s\n", total.done, total.done == 1 ? "" : "s", left ? left : "");
	}
early:
	apply_json_print(&run, &total);
	d = desired_free(d); /* before the file names its marks point to */
	diag_list_done(&load_diags);
	run_done(&run);
	shown_done(&shown);
	return ret;
}

static int cmd_status(int argc, char **argv)
{
	struct diag_list diags = {};
	_cleanup_(desired_freep_) struct desired *d = NULL;
	struct host h = {};
	struct render_opts o = { .color = use_color(stdout) };
	bool incomplete;
	int r, ret;

	if (argc > 1)
		return usage_error("status takes no argument, got '%s'", argv[1]);
	r = load_desired(&diags, &d, NULL, &incomplete);
	ret = diag_count(&diags, DIAG_ERROR) ? EX_DATAERR : exit_for_load(r);
	/* as show: a file cut short gives no guest list (its guests would show as absent, or as foreign mdevs) */
	if (!d || incomplete) {
		d = desired_free(d);
		ret = ret ? ret : 1;
	} else if (host_read(&h, LIVE_READ_DETAILS, false, &diags) < 0) {
		host_done(&h); /* what a failed read left */
		ret = 1;
	} else {
		/*
		 * as diff: a guest that mdevctl's boot start races is left out; an
		 * mdev apmatrix made that mdevctl now defines is told as handed over
		 * (no records given: status changes nothing)
		 */
		(void)hostcheck_mdevctl(d, h.live, NULL, &diags);
		plan_left_out(d, h.live, &diags); /* as diff: an mdev apmatrix does not manage holds its queues */
		(void)hostcheck_vfio(d, h.live, &diags); /* as check: no mdev can be created */
		if (!ret) /* as check: where host.keep is not in effect, and what apply does about it */
			hostcheck_keep(d, h.live, &diags);
		hostcheck_lpar(d, h.live, &diags); /* as check: what this LPAR lacks */
		(void)apply_check_cards(h.owner, h.live, false, &diags); /* as diff: a card swapped under a guest */
		note_failed_creates(d, &h); /* absent: the last apply failed to create it */
	}
	/* --json: the messages are in the document (with nothing to compare, they alone), not on stderr */
	if (arg_json) {
		diag_sort(&diags);
		render_status_json(stdout, d, h.live, NULL, &diags);
	} else {
		print_diags(&diags);
		if (h.live)
			render_status(stdout, d, h.live, &o);
	}
	host_done(&h);
	diag_list_done(&diags);
	return ret;
}

static int cmd_import(int argc, char **argv)
{
	struct diag_list diags = {};
	struct host h = {};
	struct import_opts o = { .from = arg_from };
	_cleanup_free_ char *yaml = NULL;
	int r, ret = 0;

	if (argc > 1)
		return usage_error("import takes no argument, got '%s'", argv[1]);
	/* mdevctl definitions can be read off the host; host.keep then is not written */
	if ((arg_from == IMPORT_FROM_LIVE || on_ap_host()) && host_read(&h, 0, false, &diags) < 0) {
		print_diags(&diags);
		host_done(&h);
		diag_list_done(&diags);
		return 1;
	}
	r = import_config(h.live, &o, &yaml, &diags);
	print_diags(&diags);
	if (r < 0) {
		log_error("nothing was written");
		ret = r == -EINVAL ? EX_DATAERR : 1;
	} else if (arg_output && !streq(arg_output, "-")) {
		_cleanup_free_ char *target = NULL;

		/* through a symbolic link: the link stays, its target gets the file */
		r = owner_output_target(arg_output, &target);
		if (r < 0) {
			_cleanup_free_ char *why = symlink_problem(arg_output, r);

			log_error("cannot write %s: %s; nothing was written", arg_output, why ? why : strerror(-r));
		} else {
			r = owner_write_file(target, yaml, strlen(yaml), arg_force);
			if (r == -EEXIST && !streq(target, arg_output))
				log_error("%s exists (a symbolic link to %s); use --force to replace %s", arg_output,
					  target, target);
			else if (r == -EEXIST)
				log_error("%s exists; use --force to replace it", arg_output);
			else if (r < 0)
				log_error("cannot write %s: %s", target, strerror(-r));
		}
		ret = r < 0 ? 1 : 0;
	} else
		fputs(yaml, stdout);
	host_done(&h);
	diag_list_done(&diags);
	return ret;
}

static int cmd_guest(int argc, char **argv)
{
	struct diag_list diags = {};
	_cleanup_(desired_freep_) struct desired *d = NULL;
	struct host h = {};
	const struct desired_guest *g;
	enum kernel_profile profile = PROFILE_DYNAMIC;
	int r;

	if (argc < 2)
		return usage_error("%s", "guest needs a guest name");
	if (argc > 2)
		return usage_error("guest takes one guest name, got '%s' too: QEMU allows one vfio-ap device per "
				   "guest, so declare one guest with all the adapters and domains it needs",
				   argv[2]);
	r = load_desired(&diags, &d, NULL, NULL);
	print_diags(&diags);
	if (diag_count(&diags, DIAG_ERROR) || r < 0 || !d) {
		r = diag_count(&diags, DIAG_ERROR) || r == -EINVAL ? EX_DATAERR : 1;
		diag_list_done(&diags);
		return r;
	}
	diag_list_done(&diags);
	g = desired_find_guest(d, argv[1]);
	if (!g) {
		no_such_guest(d, argv[1]);
		return EX_USAGE;
	}
	if (!arg_no_live && on_ap_host()) {
		if (host_read(&h, 0, false, &diags) == 0) {
			_cleanup_free_ char *why = hostcheck_no_vfio(h.live);

			profile = h.live->profile;
			if (why) /* apply would not create it either */
				log_warning("guest '%s': mdev %s does not exist and cannot be created: %s", g->name,
					    g->uuid, why);
			else if (!live_find_mdev(h.live, g->uuid))
				log_warning("guest '%s': mdev %s does not exist yet (run apmatrix apply)", g->name,
					    g->uuid);
		} else {
			/* why; a warning: the snippet comes from the configuration and is printed all the same */
			for (size_t i = 0; i < diags.n; i++)
				diags.items[i].severity = DIAG_WARNING;
			print_diags(&diags);
		}
		host_done(&h);
		diag_list_done(&diags);
	}
	if (arg_snippet == SNIPPET_QEMU)
		snippet_qemu(stdout, g->uuid, profile);
	else
		snippet_libvirt(stdout, g->uuid);
	return 0;
}

static int cmd_help(int argc, char **argv)
{
	const struct command *cmd;

	if (argc < 2) {
		help();
		return 0;
	}
	if (argc > 2)
		return usage_error("help takes one command, got '%s' too", argv[2]);
	cmd = find_command(argv[1]);
	if (!cmd)
		return usage_error("unknown command '%s'", argv[1]);
	help_command(cmd - commands);
	return 0;
}

/*
 * An option the command does not take is refused, not ignored: apply
 * --shell must not apply.  option_docs says which command takes which.
 */
static int check_command_options(const struct command *cmd)
{
	size_t c = cmd - commands;
	unsigned allowed = command_options(c);

	if (c == CMD_APPLY && !arg_dry_run)
		allowed &= ~OPT_SHELL; /* apply --shell would write; apply -n --shell prints */
	for (size_t i = 0; i < ARRAY_SIZE(option_docs); i++) {
		unsigned bit = option_docs[i].bit;

		if (!(arg_seen & bit) || (allowed & bit))
			continue;
		const char *name = bit != OPT_SNIPPET ? strstr(option_docs[i].names, "--")
				   : arg_snippet == SNIPPET_QEMU ? "--qemu" : "--libvirt";
		_cleanup_free_ char *owners = option_owners(bit);
		_cleanup_free_ char *s = xasprintf("%.*s is not an option of %s%s (it is one of %s)",
						   (int)strcspn(name, " "), name, cmd->name,
						   c == CMD_APPLY && bit == OPT_SHELL ? " without -n" : "", owners);
		return usage_error("%s", s);
	}
	return 0;
}

int main(int argc, char **argv)
{
	const struct command *cmd = NULL;
	int r;

	log_setup(LOG_LEVEL_NOTICE);
	const char *debug = secure_getenv("APMATRIX_DEBUG");
	if (debug && *debug)
		arg_log_level = LOG_LEVEL_DEBUG; /* as -v; -q on the command line wins */
	r = parse_argv(argc, argv);
	if (r <= 0)
		return -r;
	log_set_max_level(arg_log_level);
	if (optind >= argc)
		return -usage_error("%s", "no command given (check, show, diff, apply, status, import, guest, help)");
	cmd = find_command(argv[optind]);
	if (!cmd)
		return -usage_error("unknown command '%s'", argv[optind]);
	usage_hint_for(cmd);
	r = check_command_options(cmd);
	if (r < 0)
		return -r;
	/* the default directory may well be missing; one named on the command line is meant to exist */
	if (arg_config_dir && access(arg_config_dir, F_OK) < 0 && errno == ENOENT)
		log_warning("drop-in directory %s does not exist: no drop-ins are read", arg_config_dir);
	r = cmd->fn(argc - optind, argv + optind);
	/* output errors are errors (R27): apmatrix show > /dev/full fails */
	if (fflush(stdout) != 0 || ferror(stdout) || fclose(stdout) != 0) {
		log_error("cannot write to standard output: %s", strerror(errno));
		return r ? r : 1;
	}
	return r < 0 ? -r : r;
}
