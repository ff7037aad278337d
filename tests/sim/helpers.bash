# Shared helpers for the simulator's own bats tests (tests/sim/*.bats).
load /usr/lib/bats/bats-support/load.bash
load /usr/lib/bats/bats-assert/load.bash

TOP=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
SIM=${APMATRIX_SIM:-$TOP/build/apmatrix-sim}
HOSTS=$TOP/examples/hosts
WITH_SIM=$TOP/tests/lib/with-sim
export APMATRIX_SIM=$SIM
U1=11111111-2222-3333-4444-555555555555
U2=66666666-7777-8888-9999-aaaaaaaaaaaa
TYPE=devices/vfio_ap/matrix/mdev_supported_types/vfio_ap-passthrough

need_root() {
	[ "$(id -u)" = 0 ] || skip "needs root (FUSE mounts)"
	[ -e /dev/fuse ] || skip "no /dev/fuse"
}

# sim_start TOPOLOGY: mount the simulator on a fresh directory; $S is the root.
sim_start() {
	need_root
	S=$(mktemp -d "$BATS_TEST_TMPDIR/sys.XXXXXX")
	"$SIM" "$1" "$S"
}

sim_stop() {
	if [ -n "${S:-}" ] && [ -e "$S/.sim" ]; then
		fusermount3 -u "$S"
	fi
}

# topo NAME <<EOF ... EOF: write a topology to a temp file, print its path.
topo() {
	local f="$BATS_TEST_TMPDIR/$1.yaml"
	cat >"$f"
	echo "$f"
}

# kw PATH VALUE: write VALUE (echo-style, with newline) to the kernel
# attribute PATH under $S and print the result the writer saw: 0 or the
# errno name as logged.  Prints MISMATCH if the writer's status and the log
# disagree.
kw() {
	local rc res
	printf '%s\n' "$2" >"$S/$1" 2>/dev/null
	rc=$?
	res=$(tail -n1 "$S/.sim/writes" | cut -f3)
	if { [ "$rc" = 0 ] && [ "$res" != 0 ]; } || { [ "$rc" != 0 ] && [ "$res" = 0 ]; }; then
		echo "MISMATCH rc=$rc log=$res"
		return
	fi
	echo "$res"
}

# kwn PATH VALUE: like kw, without a trailing newline
kwn() {
	local rc res
	printf '%s' "$2" >"$S/$1" 2>/dev/null
	rc=$?
	res=$(tail -n1 "$S/.sim/writes" | cut -f3)
	if { [ "$rc" = 0 ] && [ "$res" != 0 ]; } || { [ "$rc" != 0 ] && [ "$res" = 0 ]; }; then
		echo "MISMATCH rc=$rc log=$res"
		return
	fi
	echo "$res"
}

# The seed host's mainline reservation: cards 05/06 and its four domains go to vfio_ap.
seed_masks() {
	[ "$(kw bus/ap/apmask -0x05,-0x06)" = 0 ]
	[ "$(kw bus/ap/aqmask -0x04,-0x47,-0xab,-0xff)" = 0 ]
}
