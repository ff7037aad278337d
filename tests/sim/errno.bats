#!/usr/bin/env bats
# kernel-abi.md §2.1/§2.4/§2.5: every errno in its order of precedence,
# and the no-ops where the kernel has them (6.x profile).

load helpers

setup() {
	sim_start "$HOSTS/seed.yaml"
	M=devices/vfio_ap/matrix/$U1
	M2=devices/vfio_ap/matrix/$U2
	[ "$(kw $TYPE/create $U1)" = 0 ]
	[ "$(kw $TYPE/create $U2)" = 0 ]
}
teardown() { sim_stop; }

@test "EINVAL before ENODEV before EADDRNOTAVAIL" {
	# host owns everything (masks all ones), max adapter 0x3f
	run kw $M/assign_adapter 0x40x
	assert_output EINVAL
	run kw $M/assign_adapter 0x40
	assert_output ENODEV
	run kw $M/assign_domain 0x100
	assert_output ENODEV
	# adapter alone: empty cross product, cannot conflict
	run kw $M/assign_adapter 0x05
	assert_output 0
	run kw $M/assign_domain 0x04
	assert_output EADDRNOTAVAIL
	run cat "$S/$M/matrix"
	assert_output "05."
}

@test "assigning needs only the masks: absent and unbound APQNs are fine (6.0+)" {
	[ "$(kw bus/ap/apmask -0x20)" = 0 ]
	[ "$(kw bus/ap/aqmask -0x30)" = 0 ]
	run kw $M/assign_adapter 0x20
	assert_output 0
	run kw $M/assign_domain 0x30
	assert_output 0
	run cat "$S/$M/matrix" "$S/$M/guest_matrix"
	assert_output "20.0030"
}

@test "EADDRNOTAVAIL before EADDRINUSE, EADDRINUSE on overlap with another mdev" {
	[ "$(kw bus/ap/apmask -0x05,-0x06)" = 0 ]
	[ "$(kw $M/assign_adapter 0x05)" = 0 ]
	[ "$(kw $M/assign_domain 0x04)" = 0 ]
	[ "$(kw $M2/assign_adapter 0x07)" = 0 ]
	[ "$(kw $M2/assign_adapter 0x05)" = 0 ]
	# 07.0004 is host-owned and 05.0004 belongs to $U1: host ownership wins
	[ "$(kw $M2/assign_domain 0x04)" = EADDRNOTAVAIL ]
	[ "$(kw $M2/unassign_adapter 0x07)" = 0 ]
	[ "$(kw $M2/assign_domain 0x04)" = EADDRINUSE ]
	[ "$(kw $M2/assign_domain 0x47)" = 0 ]
	run cat "$S/$M2/matrix"
	assert_output "05.0047"
	# control domains are never validated against masks or other mdevs
	[ "$(kw $M/assign_control_domain 0x04)" = 0 ]
	[ "$(kw $M2/assign_control_domain 0x04)" = 0 ]
	[ "$(kw $M2/assign_control_domain 0x01)" = 0 ]
	run kw $M2/assign_control_domain 0x100
	assert_output ENODEV
}

@test "repeated assign and unassigning what is not assigned are no-ops" {
	seed_masks
	[ "$(kw $M/assign_adapter 0x05)" = 0 ]
	[ "$(kw $M/assign_adapter 5)" = 0 ]
	[ "$(kw $M/unassign_domain 0x47)" = 0 ]
	[ "$(kw $M/unassign_adapter 0x06)" = 0 ]
	[ "$(kw $M/unassign_adapter 0x40)" = ENODEV ]
	[ "$(kw $M/unassign_adapter x)" = EINVAL ]
	run cat "$S/$M/matrix"
	assert_output "05."
	# unchanged masks: no rebinding, no uevent
	echo 0 >"$S/.sim/uevents"
	[ "$(kw bus/ap/apmask -0x05)" = 0 ]
	run cat "$S/.sim/uevents"
	assert_output ""
}

@test "EBUSY when a mask write would hand an mdev's APQN back to the host" {
	[ "$(kw bus/ap/apmask -0x05,-0x06)" = 0 ]
	[ "$(kw $M/assign_adapter 0x05)" = 0 ]
	[ "$(kw $M/assign_domain 0x04)" = 0 ]
	run kw bus/ap/apmask +0x05
	assert_output EBUSY
	run kw bus/ap/apmask 0xffff
	assert_output EBUSY
	# nothing changed; clearing bits is never refused; 0x06 is free
	run cat "$S/bus/ap/apmask"
	assert_output 0xf9ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff
	[ "$(kw bus/ap/apmask +0x06)" = 0 ]
	[ "$(kw bus/ap/aqmask -0x01)" = 0 ]
	# handing back a domain: apmask x newly set domains
	[ "$(kw bus/ap/aqmask +0x01)" = 0 ]
}

@test "EEXIST for a UUID already in use, in any case" {
	run kw $TYPE/create $U1
	assert_output EEXIST
	run kw $TYPE/create "${U2^^}"
	assert_output EEXIST
	run cat "$S/$TYPE/available_instances"
	assert_output 65534
}

@test "ap_config: EINVAL > EADDRNOTAVAIL > EADDRINUSE > ENODEV, all or nothing" {
	[ "$(kw bus/ap/apmask -0x05,-0x06,-0x40)" = 0 ]
	[ "$(kw bus/ap/aqmask -0x04)" = 0 ]
	[ "$(kw $M/ap_config 0x04,0x08,0x)" = 0 ]
	run cat "$S/$M/matrix"
	assert_output "05.0004"
	# adapter 0x40 is over the max; 07.004b is host-owned; 05.0004 is held by $U1
	run kw $M2/ap_config "0x0700000000000000Z,0x0800000000000000001,0x"
	assert_output EINVAL
	run kw $M2/ap_config "0x07000000000000008,0x0800000000000000001,0x"
	assert_output EADDRNOTAVAIL
	run kw $M2/ap_config "0x06000000000000008,0x08,0x"
	assert_output EADDRINUSE
	run kw $M2/ap_config "0x02000000000000008,0x08,0x"
	assert_output ENODEV
	run cat "$S/$M2/matrix"
	assert_output ""
	run kw $M2/ap_config "0x02,0x08,0x0000000000000000000000000000000000000000000000000000000000000001"
	assert_output 0
	run cat "$S/$M2/matrix"
	assert_output "06.0004"
}

@test "AP bus bind/unbind: ENODEV for unknown or refused devices, EBUSY when bound" {
	run kw bus/ap/drivers/vfio_ap/bind 05.0004
	assert_output EBUSY
	[ "$(kw bus/ap/drivers/cex4queue/unbind 05.0004)" = 0 ]
	# host-owned APQN: vfio_ap's probe refuses it
	run kw bus/ap/drivers/vfio_ap/bind 05.0004
	assert_output ENODEV
	run kw bus/ap/drivers/cex4queue/unbind 05.0004
	assert_output ENODEV
	run kw bus/ap/drivers/cex4queue/bind 05.0099
	assert_output ENODEV
	run kw bus/ap/drivers/cex4queue/bind card05
	assert_output ENODEV
	run kw bus/ap/drivers/cex4queue/bind 5.4
	assert_output ENODEV
	run kw bus/ap/drivers/cex4queue/bind 05.0004
	assert_output 0
}

@test "remove: base 0, 0 does nothing, garbage is EINVAL" {
	run kw $M/remove 0
	assert_output 0
	[ -d "$S/$M" ]
	run kw $M/remove yes
	assert_output EINVAL
	run kw $M/remove 1
	assert_output 0
	[ ! -e "$S/$M" ]
	run cat "$S/$TYPE/available_instances"
	assert_output 65535
}
