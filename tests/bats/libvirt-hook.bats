#!/usr/bin/env bats
# hooks/libvirt-qemu-hook: libvirt runs it for every QEMU guest operation
# with the domain XML on stdin; it leaves a request in apmatrix's run
# directory (RUNDIR/rerun, for an apply that runs meanwhile) and asks systemd
# to start apmatrix-apply.service (and nothing else) once a guest with a
# vfio-ap mdev has stopped ("release end"), and exits 0 whatever happens.
# systemctl is a stub on PATH that logs its arguments, and whether the
# request was there when it ran; APMATRIX_RUNDIR is the test's own (never
# /run/apmatrix).
load helpers
bats_require_minimum_version 1.5.0

setup() {
	HOOK=$TOP/hooks/libvirt-qemu-hook
	STUB=$BATS_TEST_TMPDIR/stub
	LOG=$BATS_TEST_TMPDIR/systemctl.log
	mkdir -p "$STUB"
	: >"$LOG"
	export APMATRIX_RUNDIR=$BATS_TEST_TMPDIR/run
	mkdir "$APMATRIX_RUNDIR"
	cat >"$STUB/systemctl" <<-EOT
	#!/bin/sh
	echo "systemctl \$*" >>"$LOG"
	[ -e "\$APMATRIX_RUNDIR/rerun" ] && echo "request there" >>"$LOG.rerun"
	exit \${STUB_RC:-0}
	EOT
	chmod +x "$STUB/systemctl"
	# a guest with a vfio-ap mdev, as libvirt formats it
	AP=$BATS_TEST_TMPDIR/ap.xml
	cat >"$AP" <<-'EOT'
	<domain type='kvm' id='3'>
	  <name>guest1</name>
	  <devices>
	    <emulator>/usr/bin/qemu-system-s390x</emulator>
	    <hostdev mode='subsystem' type='mdev' managed='no' model='vfio-ap'>
	      <source>
	        <address uuid='a4d8e314-29c2-57af-90ec-3bcb0bc33855'/>
	      </source>
	      <alias name='hostdev0'/>
	    </hostdev>
	  </devices>
	</domain>
	EOT
	# one without: a vfio-ccw mdev and a disk that names vfio-ap elsewhere
	NOAP=$BATS_TEST_TMPDIR/noap.xml
	cat >"$NOAP" <<-'EOT'
	<domain type='kvm'>
	  <name>vfio-ap-less</name>
	  <description>model='vfio-ap' is not here</description>
	  <devices>
	    <disk type='file' device='disk'><source file='/var/lib/libvirt/images/vfio-ap.qcow2'/></disk>
	    <hostdev mode='subsystem' type='mdev' model='vfio-ccw'>
	      <source><address uuid='11111111-2222-3333-4444-555555555555'/></source>
	    </hostdev>
	  </devices>
	</domain>
	EOT
}

# hook XML ARGS...: run the hook as libvirt does (stdin: XML, PATH with the
# stub), bounded by a timeout
hook() {
	local xml=$1
	shift
	run env PATH="$STUB:$PATH" timeout 10 "$HOOK" "$@" <"$xml"
}

@test "libvirt hook: release end of a guest with a vfio-ap mdev starts apmatrix-apply.service, without waiting" {
	hook "$AP" guest1 release end -
	assert_success
	assert_output ""
	run cat "$LOG"
	assert_output "systemctl --no-block start apmatrix-apply.service"
}

@test "libvirt hook: release end leaves an empty RUNDIR/rerun before it starts the unit (for an apply that runs meanwhile); an existing one stays" {
	run --separate-stderr env PATH="$STUB:$PATH" timeout 10 "$HOOK" guest1 release end - <"$AP"
	assert_success
	assert_output ""
	[ -z "$stderr" ]
	[ -f "$APMATRIX_RUNDIR/rerun" ] && [ ! -s "$APMATRIX_RUNDIR/rerun" ]
	# the request was there when systemctl ran
	run cat "$LOG.rerun"
	assert_output "request there"
	hook "$AP" guest2 release end -
	assert_success
	[ -f "$APMATRIX_RUNDIR/rerun" ]
	[ "$(ls -A "$APMATRIX_RUNDIR")" = rerun ]
	# without APMATRIX_RUNDIR: /run/apmatrix, as apmatrix's own default (read, not written, here)
	grep -qxF 'rundir=${APMATRIX_RUNDIR:-/run/apmatrix}' "$HOOK"
	grep -q '#define OWNER_DEFAULT_RUNDIR "/run/apmatrix"' "$TOP/src/owner.h"
}

@test "libvirt hook: without the run directory, or where the request cannot be written, it still starts the unit, silently, and exits 0" {
	# absent: nothing is created (no apply has taken its lock yet)
	rmdir "$APMATRIX_RUNDIR"
	run --separate-stderr env PATH="$STUB:$PATH" timeout 10 "$HOOK" guest1 release end - <"$AP"
	assert_success
	assert_output ""
	[ -z "$stderr" ]
	[ ! -e "$APMATRIX_RUNDIR" ]
	# not writable: the name is taken by a directory (root too cannot
	# write that), and, as another user, a read-only directory
	mkdir -p "$APMATRIX_RUNDIR/rerun"
	n=2
	run --separate-stderr env PATH="$STUB:$PATH" timeout 10 "$HOOK" guest1 release end - <"$AP"
	assert_success
	assert_output ""
	[ -z "$stderr" ]
	if [ "$(id -u)" != 0 ]; then
		rmdir "$APMATRIX_RUNDIR/rerun"
		chmod 555 "$APMATRIX_RUNDIR"
		run --separate-stderr env PATH="$STUB:$PATH" timeout 10 "$HOOK" guest1 release end - <"$AP"
		chmod 755 "$APMATRIX_RUNDIR"
		n=3
		assert_success
		assert_output ""
		[ -z "$stderr" ]
		[ ! -e "$APMATRIX_RUNDIR/rerun" ]
	fi
	# systemctl ran every time
	[ "$(grep -cxF 'systemctl --no-block start apmatrix-apply.service' "$LOG")" = "$n" ]
	[ "$(wc -l <"$LOG")" = "$n" ]
}

@test "libvirt hook: the same with the attributes in another order and double quotes" {
	sed 's|<hostdev .*>|<hostdev model="vfio-ap" type="mdev" mode="subsystem">|' "$AP" >"$BATS_TEST_TMPDIR/dq.xml"
	hook "$BATS_TEST_TMPDIR/dq.xml" guest1 release end -
	assert_success
	run cat "$LOG"
	assert_output "systemctl --no-block start apmatrix-apply.service"
}

@test "libvirt hook: release end of a guest without a vfio-ap mdev starts nothing" {
	hook "$NOAP" other release end -
	assert_success
	assert_output ""
	[ ! -s "$LOG" ]
	[ ! -e "$APMATRIX_RUNDIR/rerun" ]
	# nor an empty stdin
	run env PATH="$STUB:$PATH" timeout 10 "$HOOK" guest1 release end - </dev/null
	assert_success
	[ ! -s "$LOG" ]
}

@test "libvirt hook: every other operation of a vfio-ap guest starts nothing (prepare, start, started, stopped, migrate, restore, reconnect, attach)" {
	for op in "prepare begin" "start begin" "started begin" "stopped end" "release begin" "migrate begin" \
		"restore begin" "reconnect begin" "attach begin" "release"; do
		# shellcheck disable=SC2086 # two words: operation and sub-operation
		hook "$AP" guest1 $op -
		assert_success
		assert_output ""
	done
	[ ! -s "$LOG" ]
	[ ! -e "$APMATRIX_RUNDIR/rerun" ]
}

@test "libvirt hook: exits 0 and prints nothing on stdout when systemctl fails or is missing" {
	STUB_RC=5 hook "$AP" guest1 release end -
	assert_success
	run cat "$LOG"
	assert_output "systemctl --no-block start apmatrix-apply.service"
	# no systemctl at all (a PATH with grep only)
	mkdir "$BATS_TEST_TMPDIR/bare"
	ln -s "$(command -v grep)" "$BATS_TEST_TMPDIR/bare/grep"
	run timeout 10 env PATH="$BATS_TEST_TMPDIR/bare" /bin/sh "$HOOK" guest1 release end - <"$AP"
	assert_success
	assert_output --partial "systemctl"
	run --separate-stderr timeout 10 env PATH="$BATS_TEST_TMPDIR/bare" /bin/sh "$HOOK" guest1 release end - <"$AP"
	assert_success
	assert_output ""
}

@test "libvirt hook: reads stdin only as far as it needs; does not wait for its end" {
	# a pipe that is never closed: other operations do not read it at all,
	# release end stops at the vfio-ap hostdev
	fifo=$BATS_TEST_TMPDIR/fifo
	mkfifo "$fifo"
	run env PATH="$STUB:$PATH" bash -c 'exec 3<>"$1" && cat "$2" >&3 || exit 9
		timeout 10 "$3" guest1 release end - <&3; echo "release end: $?"
		timeout 10 "$3" guest1 started begin - <&3; echo "started begin: $?"' _ "$fifo" "$AP" "$HOOK"
	assert_success
	assert_output "release end: 0
started begin: 0"
	run cat "$LOG"
	assert_output "systemctl --no-block start apmatrix-apply.service"
}

@test "libvirt hook: installed executable into DATADIR/apmatrix (not into /etc), naming where it is installed" {
	R=$BATS_TEST_TMPDIR/root
	make -C "$TOP" -s B="$BUILD" DESTDIR="$R" install >/dev/null
	[ -x "$R/usr/share/apmatrix/libvirt-qemu-hook" ]
	cmp "$HOOK" "$R/usr/share/apmatrix/libvirt-qemu-hook"
	[ ! -e "$R/etc/libvirt" ]
	R=$BATS_TEST_TMPDIR/opt
	make -C "$TOP" -s B="$BUILD" DESTDIR="$R" DATADIR=/opt/ap-data install >/dev/null
	[ -x "$R/opt/ap-data/apmatrix/libvirt-qemu-hook" ]
	grep -qxF '#   ln -s /opt/ap-data/apmatrix/libvirt-qemu-hook /etc/libvirt/hooks/qemu.d/apmatrix' \
		"$R/opt/ap-data/apmatrix/libvirt-qemu-hook"
	make -C "$TOP" -s B="$BUILD" DESTDIR="$R" DATADIR=/opt/ap-data uninstall >/dev/null
	[ ! -e "$R/opt/ap-data/apmatrix/libvirt-qemu-hook" ]
}

@test "libvirt hook: apmatrix(8) and README say how to enable it (a symlink in qemu.d, restart libvirtd or virtqemud)" {
	grep -qF 'ln -s /usr/share/apmatrix/libvirt-qemu-hook /etc/libvirt/hooks/qemu.d/apmatrix' "$TOP/README.md"
	grep -qF '/usr/share/apmatrix/libvirt\-qemu\-hook' "$TOP/man/apmatrix.8"
	grep -qF 'virtqemud' "$TOP/README.md"
	grep -qF 'virtqemud' "$TOP/man/apmatrix.8"
}
