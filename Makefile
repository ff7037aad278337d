# apmatrix build.  Knobs: V=1 (verbose), ASAN=1 (address+undefined sanitizers),
# D=1 (debug, -O0), G=1 (gcov), CC=clang.  User CPPFLAGS, CFLAGS and LDFLAGS
# are appended to the required flags, never replace them.  `make help` lists
# the targets.

PREFIX ?= /usr
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
DESTDIR ?=
DATADIR ?= $(PREFIX)/share
# udev rules and systemd units go where the installed udev and systemd look
# (pkg-config); the fallbacks are the merged-/usr defaults.
UDEVDIR ?= $(or $(shell $(PKG_CONFIG) --variable=udevdir udev 2>/dev/null),$(PREFIX)/lib/udev)
UDEVRULESDIR ?= $(UDEVDIR)/rules.d
SYSTEMDUNITDIR ?= $(or $(shell $(PKG_CONFIG) --variable=systemdsystemunitdir systemd 2>/dev/null),$(PREFIX)/lib/systemd/system)
# The udev rules start the unit with systemctl by its full path (udev runs
# RUN+= programs from /usr/lib/udev only): where this machine has it, else
# /usr/bin (merged /usr).  Packages name it: /bin/systemctl on Debian, which
# is right with and without merged /usr; %{_bindir}/systemctl in the spec.
SYSTEMCTL ?= $(firstword $(wildcard /usr/bin/systemctl /bin/systemctl) /usr/bin/systemctl)
BASHCOMPDIR ?= $(or $(shell $(PKG_CONFIG) --variable=completionsdir bash-completion 2>/dev/null),$(DATADIR)/bash-completion/completions)

PKG_CONFIG ?= pkg-config
# the install program (rpm's %make_install passes INSTALL="install -p")
INSTALL ?= install
# apmatrix needs libyaml only; libuuid is the unit tests' reference for
# src/uuid.c (version 5 UUIDs, parsing, formatting).
PKGS := yaml-0.1
TEST_PKGS := uuid
SIM_PKGS := yaml-0.1 fuse3

OPT := -O2
ifeq ($(D),1)
OPT := -O0
endif
REQ_CFLAGS := -std=gnu11 $(OPT) -g -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wformat=2 -Wno-format-nonliteral -D_GNU_SOURCE -Isrc
REQ_LDFLAGS :=
ifeq ($(ASAN),1)
REQ_CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
REQ_LDFLAGS += -fsanitize=address,undefined
endif
ifeq ($(G),1)
REQ_CFLAGS += --coverage
REQ_LDFLAGS += --coverage
endif

# where apmatrix reads its configuration by default (src/config.h)
PATH_CFLAGS = -DAPMATRIX_SYSCONFDIR='"$(SYSCONFDIR)"'
ALL_CFLAGS = $(REQ_CFLAGS) $(PATH_CFLAGS) $(shell $(PKG_CONFIG) --cflags $(PKGS)) $(CPPFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(REQ_LDFLAGS) $(LDFLAGS)
LIBS = $(shell $(PKG_CONFIG) --libs $(PKGS))
TEST_LIBS = $(LIBS) $(shell $(PKG_CONFIG) --libs $(TEST_PKGS))
SIM_CFLAGS = $(REQ_CFLAGS) $(shell $(PKG_CONFIG) --cflags $(SIM_PKGS)) $(CPPFLAGS) $(CFLAGS)
SIM_LIBS = $(shell $(PKG_CONFIG) --libs $(SIM_PKGS))

ifeq ($(V),1)
Q :=
else
Q := @
endif

B := build
LIB_SRCS := $(filter-out src/main.c,$(wildcard src/*.c))
LIB_OBJS := $(LIB_SRCS:src/%.c=$(B)/obj/%.o)
SIM_SRCS := $(wildcard tests/sim/*.c)
SIM_OBJS := $(SIM_SRCS:tests/sim/%.c=$(B)/sim/%.o)
UNIT_SRCS := $(wildcard tests/unit/test-*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(B)/tests/%)

.PHONY: all deps check unit bats demo install uninstall clean help check-valgrind check-asan bench
# the benchmark tools too: tests/bats/bench.bats runs them
BENCH_BINS := $(B)/bench/yaml-parse $(B)/bench/verify-floor $(B)/bench/config-read $(B)/bench/hugepage-alloc.so $(if $(SIM_SRCS),$(B)/bench/fuse-null)
# tests/lib/unit-sandbox runs apmatrix under the unit's seccomp filters with
# this helper; built where libseccomp is installed (tests/lib/deps installs it)
HAVE_SECCOMP := $(shell $(PKG_CONFIG) --exists libseccomp 2>/dev/null && echo 1)
TEST_HELPERS := $(if $(HAVE_SECCOMP),$(B)/tests/unit-seccomp)
all: $(B)/apmatrix $(if $(SIM_SRCS),$(B)/apmatrix-sim) $(UNIT_BINS) $(BENCH_BINS) $(TEST_HELPERS)

# SYSCONFDIR as compiled in: rewritten only when it changes, so that a
# `make install SYSCONFDIR=DIR` after a plain `make` rebuilds the binary
.PHONY: FORCE
$(B)/sysconfdir: FORCE
	@mkdir -p $(@D)
	@echo '$(SYSCONFDIR)' | cmp -s - $@ 2>/dev/null || echo '$(SYSCONFDIR)' >$@

$(B)/obj/%.o: src/%.c $(wildcard src/*.h) Makefile $(B)/sysconfdir
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(B)/libapmatrix.a: $(LIB_OBJS)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(B)/apmatrix: $(B)/obj/main.o $(B)/libapmatrix.a
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(B)/sim/%.o: tests/sim/%.c $(wildcard tests/sim/*.h) src/bitmap.h Makefile
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(SIM_CFLAGS) -Itests/sim -c -o $@ $<

$(B)/apmatrix-sim: $(SIM_OBJS) $(B)/obj/bitmap.o $(B)/obj/util.o
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(SIM_LIBS) -lpthread

$(B)/tests/%: tests/unit/%.c $(wildcard tests/unit/*.h) $(B)/libapmatrix.a
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -Itests/unit -DFIXTURESDIR='"$(CURDIR)/tests"' $(ALL_LDFLAGS) -o $@ $< $(B)/libapmatrix.a $(TEST_LIBS)

$(B)/tests/unit-seccomp: tests/lib/unit-seccomp.c Makefile
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(REQ_CFLAGS) $(shell $(PKG_CONFIG) --cflags libseccomp) $(CPPFLAGS) $(CFLAGS) $(ALL_LDFLAGS) \
		-o $@ $< $(shell $(PKG_CONFIG) --libs libseccomp)

# libFuzzer target over the config loader and compiler (tests/fuzz/README.md).
# `make fuzz` builds it; `make fuzz-run FUZZ_TIME=SECONDS` runs it on the seeds.
FUZZ_CC ?= clang
FUZZ_TIME ?= 60
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS = $(filter-out -O2 -O0,$(REQ_CFLAGS)) -O1 $(FUZZ_SAN) -fsanitize=fuzzer-no-link \
	$(shell $(PKG_CONFIG) --cflags $(PKGS))
FUZZ_OBJS := $(LIB_SRCS:src/%.c=$(B)/fuzz/obj/%.o)

$(B)/fuzz/obj/%.o: src/%.c $(wildcard src/*.h) Makefile
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $< (fuzz)")
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

$(B)/fuzz-config: tests/fuzz/fuzz-config.c $(FUZZ_OBJS)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(LIBS) -ldl

.PHONY: fuzz fuzz-run
fuzz: $(B)/fuzz-config

fuzz-run: $(B)/fuzz-config
	$(Q)FUZZ_BUILD=$(abspath $(B)) tests/fuzz/run $(FUZZ_TIME)

deps:
	$(Q)tests/lib/deps

# The one test command (README, .ci/run): C unit tests + bats, one summary line.
# Builds first; a build failure still ends in a summary line.  The tests run
# the build in $(B) (APMATRIX_BIN, unless given).
TEST_BIN = APMATRIX_BIN="$${APMATRIX_BIN:-$(abspath $(B))}"
check: deps
	$(Q)$(MAKE) --no-print-directory all >$(B).log 2>&1 || { cat $(B).log; echo "0 passed, 1 failed"; exit 1; }
	$(Q)umask 022 && $(TEST_BIN) tests/run-all

unit: $(UNIT_BINS)
	$(Q)$(TEST_BIN) tests/run-all --unit-only

# The whole suite with every apmatrix run under valgrind (memcheck), or built
# with ASan+UBSan (this rebuilds build/ with ASAN=1); a report anywhere is a
# failed test (tests/run-all).
check-valgrind: deps
	$(Q)$(MAKE) --no-print-directory all >$(B).log 2>&1 || { cat $(B).log; echo "0 passed, 1 failed"; exit 1; }
	$(Q)$(TEST_BIN) APMATRIX_VALGRIND=1 tests/run-all

check-asan: deps
	$(Q)rm -rf $(B)
	$(Q)$(MAKE) --no-print-directory ASAN=1 all >$(B).log 2>&1 || { cat $(B).log; echo "0 passed, 1 failed"; exit 1; }
	$(Q)$(TEST_BIN) tests/run-all

# The full reliability runs (tests/RELIABILITY.md): fault sweep, kill -9 at
# 100 points, concurrent applies, 10 million fuzzing executions (FUZZ_RUNS=0
# leaves them out); `make check` runs a sample of each.
.PHONY: reliability
reliability: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tests/reliability/run

# Benchmarks against mdevctl and the manual procedure (bench/run): writes
# bench/RESULTS.md; needs root (simulated hosts), under 10 minutes on 2 cores.
bench: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)bench/run

$(B)/bench/yaml-parse: bench/yaml-parse.c Makefile
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(SIM_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(shell $(PKG_CONFIG) --libs yaml-0.1)

$(B)/bench/verify-floor: bench/verify-floor.c Makefile
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(SIM_CFLAGS) $(ALL_LDFLAGS) -o $@ $<

$(B)/bench/config-read: bench/config-read.c $(B)/libapmatrix.a Makefile
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(B)/libapmatrix.a $(LIBS)

# LD_PRELOAD only: no sanitizer (its own malloc would be replaced under it)
$(B)/bench/hugepage-alloc.so: bench/hugepage-alloc.c Makefile
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(filter-out -fsanitize=%,$(SIM_CFLAGS)) -fPIC -shared -fno-builtin -o $@ $<

$(B)/bench/fuse-null: bench/fuse-null.c $(B)/sim/simfs.o tests/sim/simfs.h Makefile
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(SIM_CFLAGS) -Itests/sim $(ALL_LDFLAGS) -o $@ $< $(B)/sim/simfs.o $(SIM_LIBS) -lpthread

# umask 022 for demo and check: apmatrix refuses a configuration in a
# group-writable directory, and the simulated host's /etc is made with it
demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)umask 022 && tests/lib/demo

# install: binary, udev rule, unit, man pages, bash completion, the libvirt
# QEMU hook in $(DATADIR)/apmatrix (the administrator links it into
# /etc/libvirt/hooks/qemu.d to enable it; nothing is installed there), and the
# example configuration as $(SYSCONFDIR)/apmatrix.yaml.example only: an
# installed /etc/apmatrix.yaml would make the unit hand the example's queues
# to guests at the next boot, and an existing one is never touched.
#
# The unit, the udev rules, the man pages (and the completion's, the
# schemas' and the example's comments) in the tree name the paths of
# PREFIX=/usr (ExecStart=/usr/sbin/apmatrix, /usr/share/apmatrix/schema/,
# /usr/lib/systemd/system/, /usr/lib/udev/rules.d/) and SYSCONFDIR=/etc
# (/etc/apmatrix.yaml, /etc/apmatrix.d, /etc/apmatrix.yaml.example);
# install writes them with this install's SBINDIR, DATADIR, SYSCONFDIR,
# SYSTEMDUNITDIR and UDEVRULESDIR, so with the defaults (and merged-/usr
# unit and rules directories) they are the tree's files unchanged.  The
# binary reads its configuration in the SYSCONFDIR it was built with
# (src/config.h).  The rules' systemctl is SYSTEMCTL's; other system paths
# (/sbin/modprobe, /run/apmatrix) stay.
SUBST_UNIT = sed -e 's|/usr/sbin/apmatrix|$(SBINDIR)/apmatrix|g' \
	-e 's|/etc/apmatrix\.|$(SYSCONFDIR)/apmatrix.|g'
# the libvirt hook names where it is installed (in its enabling comment)
SUBST_HOOK = sed -e 's|/usr/share/apmatrix/|$(DATADIR)/apmatrix/|g'
SUBST_RULES = $(SUBST_UNIT) -e 's|RUN+="/usr/bin/systemctl |RUN+="$(SYSTEMCTL) |'
# in a man page a '-' is written '\-'
roff_path = $(subst -,\\-,$(1))
SUBST_MAN = sed -e 's|/usr/sbin/apmatrix|$(call roff_path,$(SBINDIR))/apmatrix|g' \
	-e 's|/usr/share/apmatrix/|$(call roff_path,$(DATADIR))/apmatrix/|g' \
	-e 's|/etc/apmatrix\.|$(call roff_path,$(SYSCONFDIR))/apmatrix.|g' \
	-e 's|/usr/lib/systemd/system/apmatrix|$(call roff_path,$(SYSTEMDUNITDIR))/apmatrix|g' \
	-e 's|/usr/lib/udev/rules\.d/90|$(call roff_path,$(UDEVRULESDIR))/90|g'

install: $(B)/apmatrix
	$(INSTALL) -Dm755 $(B)/apmatrix $(DESTDIR)$(SBINDIR)/apmatrix
	$(INSTALL) -d $(DESTDIR)$(UDEVRULESDIR) $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5
	$(SUBST_RULES) rules/90-apmatrix.rules >$(DESTDIR)$(UDEVRULESDIR)/90-apmatrix.rules
	$(SUBST_UNIT) units/apmatrix-apply.service >$(DESTDIR)$(SYSTEMDUNITDIR)/apmatrix-apply.service
	$(SUBST_MAN) man/apmatrix.8 >$(DESTDIR)$(MANDIR)/man8/apmatrix.8
	$(SUBST_MAN) man/apmatrix.yaml.5 >$(DESTDIR)$(MANDIR)/man5/apmatrix.yaml.5
	chmod 644 $(DESTDIR)$(UDEVRULESDIR)/90-apmatrix.rules $(DESTDIR)$(SYSTEMDUNITDIR)/apmatrix-apply.service \
		$(DESTDIR)$(MANDIR)/man8/apmatrix.8 $(DESTDIR)$(MANDIR)/man5/apmatrix.yaml.5
	$(INSTALL) -d $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(DATADIR)/apmatrix/schema $(DESTDIR)$(SYSCONFDIR)
	$(SUBST_UNIT) completion/apmatrix.bash >$(DESTDIR)$(BASHCOMPDIR)/apmatrix
	for f in schema/*.schema.json; do \
		$(SUBST_UNIT) $$f >$(DESTDIR)$(DATADIR)/apmatrix/$$f || exit 1; \
	done
	$(SUBST_UNIT) examples/apmatrix.yaml >$(DESTDIR)$(SYSCONFDIR)/apmatrix.yaml.example
	$(SUBST_HOOK) hooks/libvirt-qemu-hook >$(DESTDIR)$(DATADIR)/apmatrix/libvirt-qemu-hook
	chmod 755 $(DESTDIR)$(DATADIR)/apmatrix/libvirt-qemu-hook
	chmod 644 $(DESTDIR)$(BASHCOMPDIR)/apmatrix $(DESTDIR)$(DATADIR)/apmatrix/schema/*.schema.json \
		$(DESTDIR)$(SYSCONFDIR)/apmatrix.yaml.example
	$(INSTALL) -d $(DESTDIR)$(SYSCONFDIR)/apmatrix.d

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/apmatrix
	rm -f $(DESTDIR)$(UDEVRULESDIR)/90-apmatrix.rules
	rm -f $(DESTDIR)$(SYSTEMDUNITDIR)/apmatrix-apply.service
	rm -f $(DESTDIR)$(MANDIR)/man8/apmatrix.8 $(DESTDIR)$(MANDIR)/man5/apmatrix.yaml.5
	rm -f $(DESTDIR)$(BASHCOMPDIR)/apmatrix
	rm -rf $(DESTDIR)$(DATADIR)/apmatrix/schema
	rm -f $(DESTDIR)$(DATADIR)/apmatrix/libvirt-qemu-hook
	rmdir $(DESTDIR)$(DATADIR)/apmatrix 2>/dev/null || true
	rm -f $(DESTDIR)$(SYSCONFDIR)/apmatrix.yaml.example
	rmdir $(DESTDIR)$(SYSCONFDIR)/apmatrix.d 2>/dev/null || true

clean:
	rm -rf $(B)

help:
	@echo "targets: all check check-asan check-valgrind unit demo install uninstall clean fuzz fuzz-run"
	@echo "knobs:   V=1 verbose, ASAN=1 sanitizers, D=1 debug, G=1 coverage,"
	@echo "         PREFIX, DESTDIR, CC, CFLAGS/LDFLAGS (appended),"
	@echo "         install paths: SBINDIR MANDIR DATADIR SYSCONFDIR UDEVDIR SYSTEMDUNITDIR BASHCOMPDIR,"
	@echo "         SYSTEMCTL (the udev rules run it; default $(SYSTEMCTL))"
	@echo "         (the unit, udev rules and man pages name the installed paths;"
	@echo "         apmatrix reads SYSCONFDIR/apmatrix.yaml, SYSCONFDIR as built)"
