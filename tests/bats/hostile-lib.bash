# Shell functions for the scripts of hostile.bats, run inside the simulator
# (in_sim, which defines die, nwrites and clear_writes).  MAXLINES is set by
# the caller.  /tmp is shared with whatever else runs on the machine: every
# scratch file lives in the private directory $W.

W=$(mktemp -d /tmp/hostile.XXXXXX)
trap 'rm -rf "$W"' EXIT

# bounded CMD...: at most 256 MiB of address space (not under ASan, gcc's
# or clang's, which reserves terabytes of shadow memory, nor under the
# valgrind wrapper of `make check-valgrind`, a script) and 20 s.
bounded() {
	(
		a=$(command -v apmatrix)
		[ "$(head -c 2 "$a")" = "#!" ] || grep -qa __asan_init "$a" || ulimit -v 262144
		exec timeout -s KILL 20 "$@"
	)
}

# refuse REGEX [OPTIONS...]: check --no-live and apply both exit 65; the
# first line of check's errors matches REGEX, check prints 1..MAXLINES lines
# (each "apmatrix: ..."), apply says so too and "nothing was changed", and
# nothing is written to sysfs.
refuse() {
	local want=$1 rc n
	shift
	clear_writes
	bounded apmatrix "$@" --no-live check >$W/out 2>$W/err </dev/null
	rc=$?
	n=$(wc -l <$W/err)
	head -c 2000 $W/err
	[ "$rc" = 65 ] || die "check exited $rc"
	[ "$n" -ge 1 ] && [ "$n" -le "$MAXLINES" ] || die "check printed $n lines"
	head -n 1 $W/err | grep -Eq -- "$want" || die "first line does not match: $want"
	! grep -v '^apmatrix: ' $W/err | grep -q . || die "a line without the program name"
	bounded apmatrix "$@" apply >$W/out 2>$W/err </dev/null
	rc=$?
	[ "$rc" = 65 ] || die "apply exited $rc: $(head -c 500 $W/err)"
	grep -Eq -- "$want" $W/err || die "apply did not say: $want"
	grep -q 'nothing was changed' $W/err || die "apply did not say nothing was changed"
	[ "$(nwrites)" = 0 ] || die "wrote: $(head -5 /sys/.sim/writes)"
}
