#!/usr/bin/env bats
# The man pages, --help, the bash completion, `make install`/`uninstall`,
# and the installed unit (systemd-analyze verify and security).
# helpers.bash: TOP, BIN (APMATRIX_BIN, where the apmatrix under test lives),
# APMATRIX, WITH_SIM and the simulator it runs (APMATRIX_SIM)
load helpers
bats_require_minimum_version 1.5.0

UNIT=$TOP/units/apmatrix-apply.service

setup() {
	[ -x "$APMATRIX" ] || skip "not built"
}

# help_commands / help_options: what `apmatrix --help` lists
help_commands() {
	"$APMATRIX" --help | awk '/^Commands:/ { on = 1; next } /^$/ { on = 0 } on { print $1 }' | sort -u
}
help_options() {
	"$APMATRIX" --help | awk '/^Options:/ { on = 1; next } /^$/ { on = 0 } on' |
		grep -oE '(^|[ ,])--?[A-Za-z][-A-Za-z]*' | tr -d ' ,' | sort -u
}
# man_section NAME: the roff source of one .SH section of apmatrix.8
man_section() {
	awk -v s="$1" '/^\.SH / { on = ($2 == s) ; next } on' "$TOP/man/apmatrix.8"
}
man_commands() {
	man_section COMMANDS | awk 'prev == ".TP" { print $2 } { prev = $1 }' | tr -d '"' | sort -u
}
man_options() {
	man_section OPTIONS | awk 'prev == ".TP" { print } { prev = $1 }' | sed 's/\\-/-/g' |
		grep -oE '(^|[ ,"])--?[A-Za-z][-A-Za-z]*' | tr -d ' ,"' | sort -u
}

# command_options CMD: the long options `apmatrix help CMD` lists as CMD's own,
# as "CMD --option"
command_options() {
	"$APMATRIX" help "$1" | awk -v c="$1" '$0 == "Options of " c ":" { on = 1; next } /^$/ { on = 0 }
		on && /^  -|^      --/ { print c, ($1 ~ /,$/ ? $2 : $1) }'
}
# man_command_options: the same from apmatrix(8): in OPTIONS, the commands
# an item names in a line ending in " :" (".BR check ", " show :"), as
# "CMD --option", for the commands of --help
man_command_options() {
	man_section OPTIONS | sed 's/\\-/-/g' | awk -v cmds="$(help_commands | tr '\n' ' ')" '
		BEGIN { split(cmds, l, " "); for (i in l) is[l[i]] = 1 }
		prev == ".TP" { match($0, /--[a-z][-a-z]*/); opt = substr($0, RSTART, RLENGTH) }
		/^\.BR? .* :$/ { gsub(/"/, " "); for (i = 2; i <= NF; i++) if ($i in is) print $i, opt }
		{ prev = $1 }' | sort -u
}

@test "help: 'help CMD' and 'CMD --help' print that command's help, 'help' alone the global one; exit 0, stdout" {
	run "$APMATRIX" --help
	assert_success
	global=$output
	run "$APMATRIX" help
	assert_success
	[ "$output" = "$global" ]
	for c in $(help_commands); do
		run --separate-stderr "$APMATRIX" help "$c"
		assert_success
		[ -z "$stderr" ]
		[ "$output" != "$global" ]
		grep -q "^Usage: apmatrix \[OPTIONS\] $c\b" <<<"$output" || { echo "$c: $output"; false; }
		# the one line of --help is not the whole description
		[ "$(wc -l <<<"$output")" -gt 10 ]
		one=$output
		for argv in "$c --help" "$c -h" "--help $c" "help $c --help"; do
			# shellcheck disable=SC2086 # word splitting wanted
			run "$APMATRIX" $argv
			assert_success
			[ "$output" = "$one" ] || { echo "'$argv' differs from 'help $c'"; false; }
		done
	done
	run --separate-stderr "$APMATRIX" help nosuch
	[ "$status" = 64 ]
	[ -z "$output" ]
	[[ $stderr == *"unknown command 'nosuch'"* ]]
	run "$APMATRIX" help check show
	[ "$status" = 64 ]
}

@test "man: apmatrix(8) gives each option to exactly the commands whose help lists it" {
	run diff <(for c in $(help_commands); do command_options "$c"; done | sort -u) <(man_command_options)
	echo "$output"
	assert_success
	[ "$(man_command_options | wc -l)" -ge 20 ]
}

@test "help: each command takes exactly the options its help lists, and a refusal names the commands that take it" {
	[ "$(id -u)" = 0 ] || skip "needs root (mount namespace, FUSE)"
	[ -e /dev/fuse ] || skip "no /dev/fuse"
	# every option some command's help lists, and what it needs after it
	opts=$(for c in $(help_commands); do command_options "$c"; done | awk '{ print $2 }' | sort -u)
	[ "$(wc -w <<<"$opts")" -ge 9 ]
	script=$BATS_TEST_TMPDIR/try.sh
	{
		echo 'cd "$1"; shift'
		for c in $(help_commands); do
			for o in $opts; do
				case $o in
				--wait) a="$o 0" ;;
				--from) a="$o live" ;;
				--output) a="$o out.$c" ;;
				*) a=$o ;;
				esac
				[ "$c $o" = "apply --shell" ] && a="-n $a" # apply --shell is refused without -n
				# no configuration: a command that takes the option stops at reading it
				echo "'$APMATRIX' -c nosuch.yaml $c $a >/dev/null 2>err; rc=\$?"
				echo "if [ \$rc = 64 ] && grep -q 'is not an option of $c' err; then echo '$c $o refused'; grep -o '(it is one of .*)' err; else echo '$c $o taken'; fi"
			done
		done
	} >"$script"
	run "$WITH_SIM" "$TOP/examples/hosts/seed.yaml" -- bash "$script" "$BATS_TEST_TMPDIR"
	echo "$output"
	assert_success
	for c in $(help_commands); do
		for o in $opts; do
			if command_options "$c" | grep -qx -- "$c $o"; then want=taken; else want=refused; fi
			grep -qx -- "$c $o $want" <<<"$output" || { echo "$c $o: not $want"; false; }
		done
	done
	# the refusal lists exactly the commands whose help lists the option
	for o in $opts; do
		owners=$(for c in $(help_commands); do command_options "$c"; done | awk -v o="$o" '$2 == o { print $1 }' | sort)
		[ "$o" = --qemu ] || [ "$o" = --libvirt ] || [ "$o" = --shell ] || {
			said=$(grep -A1 -x -- "[a-z]* $o refused" <<<"$output" | grep '^(it is one of' | sort -u)
			[ "$(wc -l <<<"$said")" = 1 ] || { echo "$o: $said"; false; }
			[ "$(sed 's/^(it is one of //; s/)$//; s/, / /g; s/ and / /' <<<"$said" | tr ' ' '\n' | sort)" = "$owners" ] ||
				{ echo "$o: refusal says '$said', help lists $owners"; false; }
		}
	done
}

@test "man: apmatrix(8) lists exactly the commands of --help" {
	run diff <(help_commands) <(man_commands)
	echo "$output"
	assert_success
	[ "$(help_commands | wc -l)" -ge 5 ]
}

@test "man: apmatrix(8) lists exactly the options of --help" {
	run diff <(help_options) <(man_options)
	echo "$output"
	assert_success
	[ "$(help_options | wc -l)" -ge 20 ]
}

@test "man: apmatrix(8) documents every exit code, environment variable and file" {
	for c in 0 1 2 64 65 75 129 130 143; do
		man_section "EXIT" | grep -qx "\.B $c" || { echo "exit code $c"; false; }
		# and the README's list, and --help's
		grep -q "\`$c\`" "$TOP/README.md" || { echo "README: exit code $c"; false; }
		"$APMATRIX" --help | tr '\n' ' ' | grep -Eq "(status: |, |\()$c " || { echo "--help: exit code $c"; false; }
	done
	for v in APMATRIX_SYSFS_ROOT APMATRIX_RUNDIR APMATRIX_S390_LOCK APMATRIX_DEBUG NO_COLOR JOURNAL_STREAM; do
		man_section ENVIRONMENT | grep -qx "\.B $v" || { echo "variable $v"; false; }
	done
	for f in /etc/apmatrix.yaml /etc/apmatrix.d/ /run/apmatrix/state /run/apmatrix/lock /run/lock/s390apconfig.lock; do
		man_section FILES | grep -q "^\.I ${f//\//\\/}" || { echo "file $f"; false; }
	done
}

@test "man: apmatrix.yaml(5) describes every key of the configuration" {
	for k in version host guests keep masks adapters domains 'control\\-domains' 'usage\\-as\\-control' uuid; do
		grep -qx "\.B $k" "$TOP/man/apmatrix.yaml.5" || { echo "key $k"; false; }
	done
	# and the namespace of derived UUIDs is the one the code uses
	ns=$(sed -n 's/.*APMATRIX_UUID_NAMESPACE "\(.*\)".*/\1/p' "$TOP/src/compile.h")
	[ -n "$ns" ]
	grep -q "${ns//-/\\\\-}" "$TOP/man/apmatrix.yaml.5"
}

@test "man: both pages render without groff warnings" {
	command -v groff >/dev/null || skip "groff not installed"
	for p in man/apmatrix.8 man/apmatrix.yaml.5; do
		run bash -c "groff -ww -man -Tutf8 -z '$TOP/$p' 2>&1"
		echo "$p: $output"
		assert_success
		assert_output ""
	done
}

@test "man: no alternating font macro splits a quoted value at its spaces (.BR \(dqa b\(dq , prints \"a\"b\" glued, with no groff warning)" {
	# outside "...", the arguments of .BR, .IR and the like are words, printed
	# with no space between them (.B and .I join theirs with spaces): a \(dq
	# that opens in one must close in it
	run awk '/^\.(BR|RB|BI|IB|IR|RI) / {
			line = $0; sub(/^\.[A-Z]+ /, "", line)
			gsub(/"[^"]*"/, "", line)
			n = split(line, w, / +/)
			for (i = 1; i <= n; i++)
				if (gsub(/\\\(dq/, "&", w[i]) % 2) { print FILENAME ":" FNR ": " $0; break }
		}' "$TOP/man/apmatrix.8" "$TOP/man/apmatrix.yaml.5"
	assert_success
	assert_output ""
}

@test "completion: offers the commands and options of --help, and the guests of the configuration" {
	run bash -c '
		. "'"$TOP"'/completion/apmatrix.bash"
		PATH="'"$BIN"':$PATH"
		c() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=(); _apmatrix; printf "%s\n" "${COMPREPLY[@]}"; }
		echo "== commands"; c apmatrix ""
		echo "== options"; c apmatrix -
		echo "== guests"; c apmatrix -c "'"$TOP"'/examples/seed-two-guests.yaml" show ""
		nojq="'"$BATS_TEST_TMPDIR"'/nojq"; mkdir -p "$nojq"
		# the compiled apmatrix: the valgrind wrapper needs more than this PATH has
		for t in sed grep; do ln -sf "$(type -P $t)" "$nojq/$t"; done
		ln -sf "'"$BUILD"'/apmatrix" "$nojq/apmatrix"
		echo "== guests without jq"; PATH="$nojq" c apmatrix -c "'"$TOP"'/examples/seed-two-guests.yaml" show g'
	echo "$output"
	assert_success
	[ "$(sed -n '/== commands/,/== options/p' <<<"$output" | sed '1d;$d' | sort)" = "$(help_commands)" ]
	[ "$(sed -n '/== options/,/== guests/p' <<<"$output" | sed '1d;$d' | sort -u)" = "$(help_options)" ]
	[ "$(sed -n '/^== guests$/,/== guests without/p' <<<"$output" | sed '1d;$d')" = $'guest1\nguest2' ]
	[ "$(sed -n '/== guests without jq/,$p' <<<"$output" | sed '1d')" = $'guest1\nguest2' ]
}

@test "completion: help offers the commands, once" {
	run bash -c '
		. "'"$TOP"'/completion/apmatrix.bash"
		c() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=(); _apmatrix; echo "${COMPREPLY[*]}"; }
		c apmatrix help ""
		c apmatrix -q help s
		c apmatrix help apply ""'
	echo "$output"
	assert_success
	[ "$(head -1 <<<"$output" | tr ' ' '\n' | sort)" = "$(help_commands)" ]
	assert_line -n 1 "show status"
	assert_line -n 2 ""
}

@test "completion: with -c - offers no guests and does not wait for the terminal; the helper apmatrix reads /dev/null, its stderr is dropped" {
	# standard input that never ends, like a terminal: a fifo opened read-write
	mkfifo "$BATS_TEST_TMPDIR/tty"
	run timeout -k 2 10 bash -c '
		. "'"$TOP"'/completion/apmatrix.bash"
		PATH="'"$BIN"':$PATH"
		c() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=(); _apmatrix; printf "%s\n" "${COMPREPLY[@]}"; }
		echo "== show"; c apmatrix -c - show ""
		echo "== guest"; c apmatrix --config-dir "'"$TOP"'/examples/apmatrix.d" --config=- guest ""' 0<>"$BATS_TEST_TMPDIR/tty"
	echo "$output"
	assert_success
	assert_output $'== show\n\n== guest'
	# a stand-in apmatrix that tells where its standard input comes from and complains on stderr
	stub=$BATS_TEST_TMPDIR/stub
	mkdir -p "$stub"
	printf '%s\n' '#!/bin/sh' 'readlink /proc/$$/fd/0 >"$(dirname "$0")/stdin"' 'echo complaint >&2' \
		'echo "{\"guests\":[{\"name\":\"stub1\"}]}"' >"$stub/apmatrix"
	chmod +x "$stub/apmatrix"
	run timeout -k 2 10 bash -c '
		. "'"$TOP"'/completion/apmatrix.bash"
		PATH="'"$stub"':$PATH"
		COMP_WORDS=(apmatrix show ""); COMP_CWORD=2; _apmatrix; printf "%s\n" "${COMPREPLY[@]}"' 0<>"$BATS_TEST_TMPDIR/tty"
	echo "$output"
	assert_success
	assert_output "stub1"
	[ "$(cat "$stub/stdin")" = /dev/null ]
}

@test "completion: guests of -cFILE, --config=FILE (one word or split at '=' by bash) and -jc FILE, with the drop-ins of --config-dir" {
	run bash -c '
		. "'"$TOP"'/completion/apmatrix.bash"
		PATH="'"$BIN"':$PATH"
		cfg="'"$TOP"'/examples/seed-two-guests.yaml" dir="'"$TOP"'/examples/apmatrix.d"
		c() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=(); _apmatrix; echo "${COMPREPLY[*]}"; }
		c apmatrix "-c$cfg" show ""
		c apmatrix "--config=$cfg" show ""
		c apmatrix --config = "$cfg" show ""
		c apmatrix -jc "$cfg" guest ""
		c apmatrix -c "$cfg" --config-dir "$dir" show ""
		c apmatrix --config-dir "$dir" show -c "$cfg" ""
		c apmatrix -c "$cfg" "--config-dir=$dir" guest ""
		c apmatrix -c "$cfg" --config-dir = "$dir" guest ""
		echo "== --color=<TAB> split by bash"; c apmatrix --color = ""; c apmatrix --color = al'
	echo "$output"
	assert_success
	assert_output "guest1 guest2
guest1 guest2
guest1 guest2
guest1 guest2
db1 db2 guest1 guest2 web1 web2 web3
db1 db2 guest1 guest2 web1 web2 web3
db1 db2 guest1 guest2 web1 web2 web3
db1 db2 guest1 guest2 web1 web2 web3
== --color=<TAB> split by bash
auto always never
always"
}

@test "completion: an invalid configuration (exit 65) still offers its guests; one that cannot be read offers none, quietly" {
	printf 'version: 1\nguests:\n  alpha: {adapters: [5], domains: [4]}\n  beta: {adapters: [5], domains: [4]}\n' > "$BATS_TEST_TMPDIR/overlap.yaml"
	printf 'version: 1\nguests:\n  alpha: {adapters: [5], domains: [4]\n' > "$BATS_TEST_TMPDIR/syntax.yaml"
	run "$APMATRIX" -c "$BATS_TEST_TMPDIR/overlap.yaml" --no-live check
	[ "$status" = 65 ] || { echo "the overlap is not invalid: $output"; false; }
	run bash -c '
		. "'"$TOP"'/completion/apmatrix.bash"
		PATH="'"$BIN"':$PATH"
		c() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=(); _apmatrix; echo "[${COMPREPLY[*]}]"; }
		c apmatrix -c "'"$BATS_TEST_TMPDIR"'/overlap.yaml" show ""
		c apmatrix -c "'"$BATS_TEST_TMPDIR"'/syntax.yaml" show ""
		c apmatrix -c "'"$BATS_TEST_TMPDIR"'/missing.yaml" guest ""'
	echo "$output"
	assert_success
	assert_output "[alpha beta]
[]
[]"
}

@test "completion: show and guest take one guest; after it only options" {
	run bash -c '
		. "'"$TOP"'/completion/apmatrix.bash"
		PATH="'"$BIN"':$PATH"
		cfg="'"$TOP"'/examples/seed-two-guests.yaml"
		c() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=(); _apmatrix; echo "${COMPREPLY[*]}"; }
		c apmatrix -c "$cfg" show guest1 ""
		c apmatrix -c "$cfg" guest guest1 g
		c apmatrix -c "$cfg" guest guest2 --qemu ""
		c apmatrix -c "$cfg" --color always show -j ""
		c apmatrix -c "$cfg" guest guest1 --q'
	echo "$output"
	assert_success
	assert_output "


guest1 guest2
--quiet --qemu"
}

@test "install: make DESTDIR=... install lays out FHS paths, keeps an existing config, uninstall removes them" {
	d=$BATS_TEST_TMPDIR/root
	udevdir=$(pkg-config --variable=udevdir udev 2>/dev/null || echo /usr/lib/udev)
	unitdir=$(pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null || echo /usr/lib/systemd/system)
	mkdir -p "$d/etc"
	echo "version: 1 # mine" >"$d/etc/apmatrix.yaml"
	run make -C "$TOP" -s B="$BUILD" DESTDIR="$d" install
	echo "$output"
	assert_success
	[ -x "$d/usr/sbin/apmatrix" ]
	[ -f "$d$udevdir/rules.d/90-apmatrix.rules" ]
	[ -f "$d$unitdir/apmatrix-apply.service" ]
	[ -f "$d/usr/share/man/man8/apmatrix.8" ]
	[ -f "$d/usr/share/man/man5/apmatrix.yaml.5" ]
	[ -f "$d/usr/share/bash-completion/completions/apmatrix" ]
	[ -x "$d/usr/share/apmatrix/libvirt-qemu-hook" ]
	[ -f "$d/etc/apmatrix.yaml.example" ]
	[ -d "$d/etc/apmatrix.d" ]
	[ "$(cat "$d/etc/apmatrix.yaml")" = "version: 1 # mine" ]
	# PREFIX moves the binary and the data, not /etc
	p=$BATS_TEST_TMPDIR/prefix
	local knobs=(DESTDIR="$p" PREFIX=/usr/local UDEVDIR=/usr/local/lib/udev SYSTEMDUNITDIR=/usr/local/lib/systemd/system)
	run make -C "$TOP" -s B="$BUILD" "${knobs[@]}" install
	assert_success
	[ -x "$p/usr/local/sbin/apmatrix" ]
	[ -f "$p/usr/local/share/man/man8/apmatrix.8" ]
	[ -f "$p/etc/apmatrix.yaml.example" ]
	[ ! -e "$p/etc/apmatrix.yaml" ]
	run make -C "$TOP" -s B="$BUILD" "${knobs[@]}" uninstall
	assert_success
	run find "$p" -type f
	assert_output ""
	run make -C "$TOP" -s B="$BUILD" DESTDIR="$d" uninstall
	assert_success
	# only the administrator's configuration is left
	run find "$d" -type f
	assert_output "$d/etc/apmatrix.yaml"
}

# install_root: a DESTDIR install for the systemd-analyze tests; $R, $UNITPATH
install_root() {
	command -v systemd-analyze >/dev/null || skip "systemd-analyze not installed"
	R=$BATS_TEST_TMPDIR/root
	make -C "$TOP" -s B="$BUILD" DESTDIR="$R" install >/dev/null
	UNITPATH=$(pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null || echo /usr/lib/systemd/system)/apmatrix-apply.service
}

@test "unit: systemd-analyze verify passes on the installed unit" {
	install_root
	# the Documentation= pages are looked up in the installed tree
	run env MANPATH="$R/usr/share/man" systemd-analyze verify --root="$R" "$UNITPATH"
	echo "$output"
	assert_success
	assert_output ""
	# and it does catch mistakes: a misspelt setting, a missing binary
	sed -i 's/^Type=oneshot/Type=oneshoot/' "$R$UNITPATH"
	run env MANPATH="$R/usr/share/man" systemd-analyze verify --root="$R" "$UNITPATH"
	assert_output --partial "Failed to parse service type"
	rm "$R/usr/sbin/apmatrix"
	run env MANPATH="$R/usr/share/man" systemd-analyze verify --root="$R" "$UNITPATH"
	assert_failure
	assert_output --partial "/usr/sbin/apmatrix is not executable"
}

@test "unit: no start limit, set in [Unit] where systemd reads it (udev may start the unit more than 5 times in 10 s)" {
	local unit=$TOP/units/apmatrix-apply.service
	run awk '/^\[/ {sec = $0} /^StartLimit/ {print sec " " $0}' "$unit"
	assert_output "[Unit] StartLimitIntervalSec=0"
}

@test "unit: systemd-analyze security exposure is at most 2.0, and README states it" {
	install_root
	run systemd-analyze security --offline=true "$R$UNITPATH"
	echo "$output"
	assert_success
	score=$(sed -n 's/.*Overall exposure level for apmatrix-apply.service: \([0-9.]*\).*/\1/p' <<<"$output")
	echo "# exposure $score" >&3
	[ -n "$score" ]
	awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }'
	grep -q "exposure.* $score\b" "$TOP/README.md"
}

@test "unit: oneshot, re-startable, skips cleanly, ordered before libvirt, pending is not a failure" {
	u() { grep -x "$1" "$UNIT"; }
	u 'Type=oneshot'
	! grep -q '^RemainAfterExit' "$UNIT"
	u 'ExecStart=/usr/sbin/apmatrix apply'
	u 'ConditionPathExists=/etc/apmatrix.yaml'
	u 'ConditionPathIsDirectory=/sys/bus/ap'
	grep -q '^Before=.*\blibvirtd.service\b' "$UNIT"
	grep -q '^Before=.*\bvirtqemud.service\b' "$UNIT"
	u 'WantedBy=multi-user.target'
	grep -q '^Documentation=man:apmatrix(8)' "$UNIT"
	u 'SuccessExitStatus=2'
	grep -q '^ExecStartPre=.*modprobe .*vfio_ap' "$UNIT"
	# the rule starts exactly this unit
	grep -q 'start apmatrix-apply.service"' "$TOP/rules/90-apmatrix.rules"
}
