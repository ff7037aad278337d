#!/usr/bin/env bats
# kernel-abi.md §5/§6: the profiles differ where the kernel differs.

load helpers

teardown() {
	[ -n "${S:-}" ] && { echo "detach $U1" >"$S/.sim/guest"; } 2>/dev/null
	sim_stop
}

host() { # host KERNEL [vfio_ap state]
	topo "k$1" <<-Y
	kernel: $1
	vfio_ap: ${2:-loaded}
	max_domain: 0xff
	cards:
	  - {id: 0x05, type: CEX5C, domains: [0x04, 0x47]}
	  - {id: 0x06, type: CEX5A, domains: [0x04, 0x47]}
	Y
}

@test "files present per profile: status, guest_matrix, ap_config, features, driver_override" {
	# version  status guest_matrix ap_config features driver_override
	for row in "5.15 0 0 0 0 0" "5.17 1 0 0 0 0" "6.0 1 1 0 0 0" "6.10 1 1 1 0 0" "6.12 1 1 1 1 0" \
		"6.19 1 1 1 1 1"; do
		set -- $row
		sim_start "$(host $1)"
		[ "$(kw bus/ap/apmask -0x05)" = 0 ]
		[ "$(kw $TYPE/create $U1)" = 0 ]
		m=devices/vfio_ap/matrix/$U1
		got="$1 $([ -e "$S/devices/ap/card05/05.0004/status" ] && echo 1 || echo 0)"
		got+=" $([ -e "$S/$m/guest_matrix" ] && echo 1 || echo 0)"
		got+=" $([ -e "$S/$m/ap_config" ] && echo 1 || echo 0)"
		got+=" $([ -e "$S/devices/vfio_ap/matrix/features" ] && echo 1 || echo 0)"
		got+=" $([ -e "$S/devices/ap/card05/05.0004/driver_override" ] && echo 1 || echo 0)"
		[ "$got" = "$row" ] || fail "profile $1: expected '$row', got '$got'"
		sim_stop
	done
}

@test "APMASK/AQMASK uevents from 5.19 on" {
	for v in 5.15 5.19; do
		sim_start "$(host $v)"
		[ "$(kw bus/ap/apmask -0x05)" = 0 ]
		n=$(grep -c '^APMASK=' "$S/.sim/uevents" || true)
		if [ $v = 5.15 ]; then [ "$n" = 0 ]; else [ "$n" = 1 ]; fi
		sim_stop
	done
}

@test "5.15 static: assignment needs vfio_ap-bound queues, EBUSY while in use, masks not guarded" {
	sim_start "$HOSTS/static-5.15.yaml"
	[ ! -e "$S/devices/vfio_ap" ]
	echo vfio_ap >"$S/.sim/modprobe"
	[ "$(kw $TYPE/create $U1)" = 0 ]
	m=devices/vfio_ap/matrix/$U1
	# masks still all ones: nothing is bound to vfio_ap
	run kw $m/assign_adapter 0x05
	assert_output EADDRNOTAVAIL
	[ "$(kw bus/ap/apmask -0x05,-0x06)" = 0 ]
	[ "$(kw $m/assign_adapter 0x05)" = 0 ]
	# no idempotence shortcut, but still valid
	[ "$(kw $m/assign_adapter 0x05)" = 0 ]
	# 07.0004 is bound to cex4queue
	run kw $m/assign_adapter 0x07
	assert_output EADDRNOTAVAIL
	[ "$(kw $m/assign_domain 0x04)" = 0 ]
	[ "$(kw bus/ap/drivers/vfio_ap/unbind 06.0047)" = 0 ]
	[ "$(kw $m/assign_adapter 0x06)" = 0 ]
	run kw $m/assign_domain 0x47
	assert_output EADDRNOTAVAIL
	echo "attach $U1" >"$S/.sim/guest"
	for f in assign_domain unassign_domain assign_adapter unassign_adapter assign_control_domain; do
		run kw $m/$f 0x47
		assert_output EBUSY
	done
	# EBUSY comes before parsing
	run kw $m/assign_domain garbage
	assert_output EBUSY
	# before 6.0 the host can take queues back from under an mdev
	[ "$(kw bus/ap/apmask +0x05)" = 0 ]
	run readlink "$S/devices/ap/card05/05.0004/driver"
	assert_output ../../../../bus/ap/drivers/cex4queue
	[ ! -e "$S/devices/ap/card05/05.0004/status" ]
	[ ! -e "$S/$m/guest_matrix" ]
	run cat "$S/.sim/dump"
	assert_line "profile 5.15"
	assert_line "queue 05.0004 cex4queue"
}

@test "before 5.2 remove of an mdev in use fails with EBUSY; from 5.2 it blocks" {
	sim_start "$(host 5.1)"
	[ "$(kw $TYPE/create $U1)" = 0 ]
	run readlink "$S/devices/vfio_ap/matrix/$U1/driver"
	assert_output ../../../../bus/mdev/drivers/vfio_mdev
	echo "attach $U1" >"$S/.sim/guest"
	run kw devices/vfio_ap/matrix/$U1/remove 1
	assert_output EBUSY
	echo "detach $U1" >"$S/.sim/guest"
	run kw devices/vfio_ap/matrix/$U1/remove 1
	assert_output 0
	sim_stop
	sim_start "$(host 5.2)"
	[ "$(kw $TYPE/create $U1)" = 0 ]
	echo "attach $U1" >"$S/.sim/guest"
	# the writer cannot even be killed while it waits (the request is in user space)
	echo 1 >"$S/devices/vfio_ap/matrix/$U1/remove" &
	pid=$!
	sleep 0.5
	kill -0 $pid
	[ -d "$S/devices/vfio_ap/matrix/$U1" ]
	echo "detach $U1" >"$S/.sim/guest"
	wait $pid
	[ ! -e "$S/devices/vfio_ap/matrix/$U1" ]
}

@test "6.0 dynamic: assigning to an attached mdev hot plugs instead of EBUSY" {
	sim_start "$(host 6.0)"
	[ "$(kw bus/ap/apmask -0x05)" = 0 ]
	[ "$(kw bus/ap/aqmask -0x04)" = 0 ]
	[ "$(kw $TYPE/create $U1)" = 0 ]
	m=devices/vfio_ap/matrix/$U1
	echo "attach $U1" >"$S/.sim/guest"
	[ "$(kw $m/assign_adapter 0x05)" = 0 ]
	[ "$(kw $m/assign_domain 0x04)" = 0 ]
	run cat "$S/$m/guest_matrix" "$S/devices/ap/card05/05.0004/status"
	assert_output $'05.0004\nin use'
	[ "$(kw $m/unassign_domain 0x04)" = 0 ]
	run cat "$S/devices/ap/card05/05.0004/status"
	assert_output unassigned
}

@test "6.19: driver_override only with all-ones masks, and then masks are frozen" {
	sim_start "$(host 6.19)"
	q=devices/ap/card05/05.0004
	run cat "$S/$q/driver_override" "$S/bus/ap/bindings_complete_count"
	assert_output $'\n1'
	[ "$(kw $q/driver_override vfio_ap)" = 0 ]
	run cat "$S/$q/driver_override"
	assert_output vfio_ap
	run kw bus/ap/apmask -0x06
	assert_output EINVAL
	# the override decides the next probe
	[ "$(kw bus/ap/drivers/cex4queue/unbind 05.0004)" = 0 ]
	run kw bus/ap/drivers/cex4queue/bind 05.0004
	assert_output ENODEV
	[ "$(kw bus/ap/drivers/vfio_ap/bind 05.0004)" = 0 ]
	[ "$(kw $TYPE/create $U1)" = 0 ]
	[ "$(kw devices/vfio_ap/matrix/$U1/assign_adapter 0x05)" = 0 ]
	[ "$(kw devices/vfio_ap/matrix/$U1/assign_domain 0x04)" = 0 ]
	# clearing the override frees the masks; with restricted masks overrides are refused
	[ "$(kw $q/driver_override "")" = 0 ]
	run cat "$S/$q/driver_override"
	assert_output ""
	[ "$(kw bus/ap/apmask -0x06)" = 0 ]
	run kw devices/ap/card06/06.0004/driver_override vfio_ap
	assert_output EINVAL
}

@test "rfc2017: ap_matrix names, per-queue reservation, hex numbers, adapters/domains files" {
	sim_start "$HOSTS/rfc2017.yaml"
	[ ! -e "$S/bus/ap/apmask" ]
	[ ! -e "$S/devices/vfio_ap" ]
	[ -d "$S/bus/ap_matrix/devices" ]
	run readlink "$S/bus/ap_matrix/devices/matrix" "$S/devices/ap_matrix/matrix/subsystem" "$S/class/mdev_bus/matrix"
	assert_output $'../../../devices/ap_matrix/matrix\n../../../bus/ap_matrix\n../../devices/ap_matrix/matrix'
	t=devices/ap_matrix/matrix/mdev_supported_types/ap_matrix-passthrough
	[ -f "$S/bus/ap/drivers/vfio_ap_matrix/bind" ]
	[ "$(kw bus/ap/drivers/cex4queue/unbind 05.0047)" = 0 ]
	[ "$(kw bus/ap/drivers/vfio_ap_matrix/bind 05.0047)" = 0 ]
	[ "$(kw $t/create $U1)" = 0 ]
	m=devices/ap_matrix/matrix/$U1
	run readlink "$S/$m/driver" "$S/$m/mdev_type"
	assert_output $'../../../../bus/mdev/drivers/vfio_mdev\n../mdev_supported_types/ap_matrix-passthrough'
	[ "$(kw $m/assign_adapter 5)" = 0 ]
	# "47" is hex in the RFC
	[ "$(kw $m/assign_domain 47)" = 0 ]
	run kw $m/assign_domain ab
	assert_output EADDRNOTAVAIL
	run kw $m/assign_domain 100
	assert_output ENODEV
	run cat "$S/$m/adapters" "$S/$m/domains" "$S/$m/control_domains"
	assert_output $'05\n0047'
	[ ! -e "$S/$m/matrix" ]
	[ ! -e "$S/$m/guest_matrix" ]
	# usage domains are control domains for the guest (architectural convention)
	run cat "$S/.sim/dump"
	assert_line "  guest_control_domains 0x0047"
	assert_line "apmask -"
	# no hot plug, but changes are accepted while running (they apply at guest reboot)
	echo "attach $U1" >"$S/.sim/guest"
	[ "$(kw $m/unassign_domain 47)" = 0 ]
	run kw $m/remove 1
	assert_output EBUSY
}
