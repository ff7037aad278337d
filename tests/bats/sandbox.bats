#!/usr/bin/env bats
# apply as apmatrix-apply.service runs it: inside the unit's sandbox, read
# from units/apmatrix-apply.service and emulated by tests/lib/unit-sandbox
# (mounts, namespaces, no capabilities, the seccomp filters; no systemd as
# PID 1 here), on simulated hosts.  The last test shows that the emulation
# bites: a unit with a setting taken away breaks apply the way it would on
# a host.
load helpers

SB="tests/lib/unit-sandbox --vfio /sys/.sim/vfio"
# $SANDBOX_APMATRIX in the sandbox (helpers.bash): a compiled apmatrix, never
# the valgrind wrapper, whose system calls and log directory do not pass the
# unit's seccomp filter and read-only file system.

setup() {
	need_root
	[ -x "$SANDBOX_APMATRIX" ] && [ -x "${APMATRIX_SIM:-$TOP/build/apmatrix-sim}" ] || skip "not built"
	local why
	why=$("$TOP/tests/lib/unit-sandbox" --check) || skip "$why"
}

# sb_sim TOPOLOGY: the script on stdin on that host, from the top of the
# tree, with the seed's guests as /etc/apmatrix.yaml; $SB runs a command in
# the unit's sandbox, and the helpers of helpers.bash are there too.
sb_sim() {
	local script="$BATS_TEST_TMPDIR/sb.$RANDOM.sh"
	{
		echo "cd '$TOP' || exit 1"
		echo "SB='$SB'"
		echo "SANDBOX_APMATRIX='$SANDBOX_APMATRIX'"
		echo "cp examples/seed-two-guests.yaml /etc/apmatrix.yaml"
		cat
	} >"$script"
	in_sim "$1" <"$script"
}

@test "sandbox: the unit's apply brings the seed host (6.12) up, then finds nothing to do" {
	sb_sim "$HOSTS/seed.yaml" <<-'EOT'
	$SB -- "$SANDBOX_APMATRIX" apply > $T/out 2> $T/err || die "first apply exited $?: $(cat $T/err)"
	cat $T/out
	[ "$(nwrites)" = 6 ] || die "$(nwrites) writes, expected 6"
	[ -z "$(bad_writes)" ] || die "failed writes: $(bad_writes)"
	[ ! -s $T/err ] || die "stderr: $(cat $T/err)"
	# its records, in the unit's RuntimeDirectory=
	grep -q a4d8e314-29c2-57af-90ec-3bcb0bc33855 /run/apmatrix/state || die "no ownership record"
	clear_writes
	$SB -- "$SANDBOX_APMATRIX" apply > $T/out 2> $T/err || die "second apply exited $?"
	[ "$(cat $T/out)" = "0 changes" ] || die "second apply: $(cat $T/out)"
	[ "$(nwrites)" = 0 ] || die "second apply wrote"
	apmatrix status --json | jqe '[.guests[].state] == ["matches", "matches"]' >/dev/null || die "not converged"
	EOT
	echo "$output"
	assert_success
	assert_line "6 changes"
}

@test "sandbox: 5.15, a running guest dropped from the configuration: the unit's apply sees it through /dev/vfio and keeps its mdev" {
	sb_sim "$(seed_topo 5.15)" <<-'EOT'
	g1=a4d8e314-29c2-57af-90ec-3bcb0bc33855
	$SB -- "$SANDBOX_APMATRIX" apply -q || die "bring-up exited $?"
	echo "attach $g1" > /sys/.sim/guest
	sed -i '/^  guest1:/,/domains/d' /etc/apmatrix.yaml
	clear_writes
	# a remove written to the running guest's mdev would block (5.15)
	timeout 30 $SB -- "$SANDBOX_APMATRIX" apply > $T/out 2> $T/err
	rc=$?
	[ $rc != 124 ] || { echo "detach $g1" > /sys/.sim/guest; die "apply blocked: $(cat /sys/.sim/writes)"; }
	cat $T/err $T/out
	[ $rc = 2 ] || die "apply exited $rc, expected 2"
	! grep "/$g1/" /sys/.sim/writes || die "wrote to the running guest's mdev"
	[ -d "$(mdev_dir $g1)" ] || die "mdev gone"
	echo "detach $g1" > /sys/.sim/guest
	$SB -- "$SANDBOX_APMATRIX" apply -q || die "apply after the guest stopped exited $?"
	[ ! -d "$(mdev_dir $g1)" ] || die "mdev still there after the guest stopped"
	EOT
	echo "$output"
	assert_success
	assert_line "apmatrix: warning: guest1 a4d8e314-29c2-57af-90ec-3bcb0bc33855: remove mdev (it would lose APQNs 05.0004 05.00ab 06.0004 06.00ab) pending: guest is running (an mdev in use is never removed)"
	refute_output --partial "cannot tell"
}

@test "sandbox: 5.15, vfio not loaded when the unit started (first boot): apply configures the mdevs it creates" {
	sed 's/^vfio_ap: loaded/vfio_ap: unloaded/' "$(seed_topo 5.15)" >"$BATS_TEST_TMPDIR/unloaded.yaml"
	sb_sim "$BATS_TEST_TMPDIR/unloaded.yaml" <<-'EOT'
	[ ! -d /sys/.sim/vfio ] || die "vfio loaded before the start"
	echo vfio_ap > /sys/.sim/modprobe # the unit's ExecStartPre
	$SB --vfio-at-start no -- "$SANDBOX_APMATRIX" apply > $T/out 2> $T/err || die "apply exited $?: $(cat $T/err)"
	cat $T/err $T/out
	[ ! -s $T/err ] || die "stderr: $(cat $T/err)"
	[ "$(nwrites)" = 15 ] || die "$(nwrites) writes, expected 15"
	apmatrix status --json | jqe '[.guests[].state] == ["matches", "matches"]' >/dev/null || die "not converged"
	EOT
	echo "$output"
	assert_success
	assert_line "15 changes"
}

@test "sandbox: the emulation bites: without its writable paths, its lock syscall, the vfio bind or the device rule, apply cannot do its job" {
	sb_sim "$(seed_topo 5.15)" <<-'EOT'
	U=units/apmatrix-apply.service
	# with_unit NAME SED RC PATTERN: apply in the sandbox of the unit edited
	# by SED exits RC and says PATTERN on stderr
	with_unit() {
		sed "$2" $U > $T/$1.service
		$SB --unit $T/$1.service -- "$SANDBOX_APMATRIX" apply > $T/out 2> $T/err
		local rc=$?
		cat $T/err
		[ $rc = $3 ] || die "$1: apply exited $rc, expected $3"
		grep -q "$4" $T/err || die "$1: no '$4'"
	}
	# ReadWritePaths= without the AP bus: the mask write fails, read-only
	with_unit no-rw 's#^ReadWritePaths=/sys/bus/ap #ReadWritePaths=#' 1 'apmask.*Read-only file system'
	# SystemCallFilter= without flock: the locks cannot be taken
	with_unit no-flock 's/^SystemCallErrorNumber=EPERM/SystemCallFilter=~flock\n&/' 1 \
		'cannot take the lock .*/lock: Operation not permitted'
	# a setting the emulation does not know is refused, not ignored
	with_unit unknown 's/^PrivateTmp=yes/&\nProtectFoo=yes/' 125 'ProtectFoo= is not known to unit-sandbox'
	# bring the host up, then a running guest: without the vfio bind or
	# without DeviceAllow=, apply cannot tell that it runs
	$SB -- "$SANDBOX_APMATRIX" apply -q || die "bring-up exited $?"
	echo "attach a4d8e314-29c2-57af-90ec-3bcb0bc33855" > /sys/.sim/guest
	sed -i '/^  guest1:/,/domains/d' /etc/apmatrix.yaml
	with_unit no-bind '/^BindReadOnlyPaths=/d' 2 'cannot tell whether a guest holds mdev'
	with_unit no-devallow '/^DeviceAllow=/d' 2 'cannot tell whether a guest holds mdev'
	echo "detach a4d8e314-29c2-57af-90ec-3bcb0bc33855" > /sys/.sim/guest
	EOT
	echo "$output"
	assert_success
	assert_output --partial "No such file or directory); taken as in use"
	assert_output --partial "Permission denied); taken as in use"
}
