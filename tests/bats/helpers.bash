# Shared helpers for the CLI and applier tests (tests/bats/*.bats).
load /usr/lib/bats/bats-support/load.bash
load /usr/lib/bats/bats-assert/load.bash

TOP=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
# APMATRIX_BIN: where the apmatrix that the tests run lives (tests/run-all
# points it at a valgrind wrapper for `make check-valgrind`)
BIN=${APMATRIX_BIN:-$TOP/build}
# with-sim's simulator: the one built with that apmatrix, where it has one
# (a build directory; not the valgrind wrapper's), else build/apmatrix-sim
if [ -z "${APMATRIX_SIM:-}" ] && [ -x "$BIN/apmatrix-sim" ]; then
	export APMATRIX_SIM=$BIN/apmatrix-sim
fi
APMATRIX=${APMATRIX:-$BIN/apmatrix}
# BUILD: the build directory of the apmatrix under test, for what needs a
# compiled program or a build directory (make install B=): the directory of
# $APMATRIX when that is a compiled program, else (the valgrind wrapper, a
# script) APMATRIX_BUILD (set by tests/run-all), whose apmatrix the wrapper
# runs, or build/.
if [ "$(head -c 4 "$APMATRIX" 2>/dev/null)" = $'\x7fELF' ]; then
	BUILD=$(dirname "$APMATRIX")
else
	BUILD=${APMATRIX_BUILD:-$TOP/build}
fi
# the apmatrix run inside the unit's sandbox (tests/lib/unit-sandbox), never
# the valgrind wrapper: valgrind's own system calls and its log directory do
# not pass the unit's seccomp filter and read-only file system, so those runs
# are not memory-checked (an ASan build's are)
SANDBOX_APMATRIX=$BUILD/apmatrix
# and its seccomp helper: the one built there (unit-sandbox's default is
# build/tests/unit-seccomp)
if [ -z "${UNIT_SECCOMP:-}" ] && [ -x "$BUILD/tests/unit-seccomp" ]; then
	export UNIT_SECCOMP=$BUILD/tests/unit-seccomp
fi
WITH_SIM=$TOP/tests/lib/with-sim
HOSTS=$TOP/examples/hosts
EXAMPLES=$TOP/examples

need_root() {
	[ "$(id -u)" = 0 ] || skip "needs root (mount namespace, FUSE)"
	[ -e /dev/fuse ] || skip "no /dev/fuse"
}

# seed_topo KERNEL: the seed's two cards with all four domains, on KERNEL;
# prints the topology file's name (written anew each call: a test may append
# cards to it).
seed_topo() {
	local f="$BATS_TEST_TMPDIR/seed-$1.yaml"
	cat >"$f" <<EOT
kernel: $1
vfio_ap: loaded
max_adapter: 0x3f
max_domain: 0xff
cards:
  - {id: 0x05, type: CEX5C, mode: cca,   domains: [0x04, 0x47, 0xab, 0xff]}
  - {id: 0x06, type: CEX5A, mode: accel, domains: [0x04, 0x47, 0xab, 0xff]}
EOT
	echo "$f"
}

# seed_topo3 KERNEL: seed_topo KERNEL with a third card, 0x07 (CEX6P, the
# same four domains)
seed_topo3() {
	local f
	f=$(seed_topo "$1")
	echo '  - {id: 0x07, type: CEX6P, mode: ep11, domains: [0x04, 0x47, 0xab, 0xff]}' >>"$f"
	echo "$f"
}

# in_sim TOPOLOGY: run the bash script on stdin on that simulated host, with
# apmatrix on PATH and the helper functions below defined inside.
# jqe FILTER [FILE...]: jq -e that also fails on no input
. "$(dirname "${BASH_SOURCE[0]}")/../lib/jqe.bash"

in_sim() {
	local topo=$1 script="$BATS_TEST_TMPDIR/script.$RANDOM.sh"
	{
		echo "set -u"
		declare -f jqe
		echo "export PATH='$BIN':\"\$PATH\""
		echo "EXAMPLES='$EXAMPLES'"
		echo "T='$BATS_TEST_TMPDIR'" # the test's own scratch directory (not /tmp)
		cat <<'EOT'
# die: the reason goes to the script's own stderr, kept on $die_fd, not to
# where the failing command's stderr was sent (expect_exit 0 CMD 2> $T/err)
exec {die_fd}>&2
die() { echo "FAIL: $*" >&$die_fd; exit 1; }
nwrites() { grep -c . /sys/.sim/writes || true; }
clear_writes() { echo 0 > /sys/.sim/writes; }
bad_writes() { awk -F'\t' '$3 != "0"' /sys/.sim/writes; }
mdev_dir() { echo /sys/devices/vfio_ap/matrix/$1; }
uuid_of() { apmatrix check --json | jq -r --arg g "$1" '.guests[] | select(.name == $g) | .uuid'; }
expect_exit() { local want=$1; shift; "$@"; local rc=$?; [ "$rc" = "$want" ] || die "'$*' exited $rc, expected $want"; }
# three_guests: on seed_topo3's host, g1 {05,06}x{47,ab}, g2 {07}x{04} and
# g3 {07}x{47} as /etc/apmatrix.yaml, applied
three_guests() {
	printf 'version: 1\nguests:\n  g1: {adapters: [0x05, 0x06], domains: [0x47, 0xab]}\n  g2: {adapters: [0x07], domains: [0x04]}\n  g3: {adapters: [0x07], domains: [0x47]}\n' > /etc/apmatrix.yaml
	apmatrix apply -q || die "bring-up of three_guests"
}
# let_go HOW UUID: what a pending change of the running guest on mdev UUID
# waits for: HOW stop detaches the guest (force is then empty), HOW force
# leaves it running and sets force=--force for the next apply
let_go() { if [ "$1" = stop ]; then echo "detach $2" > /sys/.sim/guest; force=; else force=--force; fi; }
# seed_two_guests: apply examples/seed-two-guests.yaml; g1 and g2 are then
# guest1's and guest2's mdev UUIDs
seed_two_guests() {
	cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
	apmatrix apply -q || die "apply failed"
	g1=$(uuid_of guest1); g2=$(uuid_of guest2)
}
# wait_fired WHAT: wait until the simulator's one-shot rules (wdelay, rdelay)
# have fired, i.e. /sys/.sim/fail lists none: the write or read they delay is
# now waiting.  Polls for 30 s at the most, then dies saying WHAT.
wait_fired() {
	local i
	for ((i = 0; i < 600; i++)); do [ -z "$(cat /sys/.sim/fail)" ] && return 0; sleep 0.05; done
	die "$1 (rules not fired: $(cat /sys/.sim/fail))"
}
# hold_s390_lock: hold /run/lock/s390apconfig.lock as another tool would (a
# link to a file with the holder's PID, alive 5 minutes: a loaded machine must not see
# it go stale in the middle of a test); release_s390_lock gives it back
hold_s390_lock() { sleep 300 & holder=$!; echo $holder > /run/lock/s390apconfig.tmp && ln /run/lock/s390apconfig.tmp /run/lock/s390apconfig.lock && rm /run/lock/s390apconfig.tmp; }
release_s390_lock() { rm /run/lock/s390apconfig.lock; kill $holder; }
# expect_repaired STATE...: the next apply exits 0 and leaves the guests in
# these states (apmatrix status, in name order)
expect_repaired() {
	local want
	want=$(printf '"%s",' "$@")
	expect_exit 0 apmatrix apply > /dev/null
	apmatrix status --json | jqe "[.guests[].state] == [${want%,}]" >/dev/null || die "not repaired: $(apmatrix status)"
}
# apply_guarded UUID [ARGS]: apmatrix apply ARGS, stdout to $T/out, stderr to
# $T/err; returns its exit status.  A remove written to the mdev of the
# running guest UUID blocks for as long as it runs (5.2 and later,
# uninterruptibly): after 30 s the guest is let go and the test fails.
apply_guarded() {
	local g=$1 pid i
	shift
	apmatrix apply "$@" > $T/out 2> $T/err &
	pid=$!
	for ((i = 0; i < 300; i++)); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
	if kill -0 $pid 2>/dev/null; then
		echo "detach $g" > /sys/.sim/guest
		wait $pid
		die "apply${*:+ $*} blocked writing to a running guest's mdev: $(cat /sys/.sim/writes)"
	fi
	wait $pid
}
EOT
		cat
	} >"$script"
	run "$WITH_SIM" "$topo" -- bash "$script"
}
