#!/usr/bin/env bats
# kernel-abi.md §1: the tree, its links (exact relative targets), file modes
# and uevent files.

load helpers

setup() { sim_start "$HOSTS/seed.yaml"; }
teardown() { sim_stop; }

@test "bus/ap has the bus attributes with the kernel's modes" {
	run stat -c '%A %n' "$S/bus/ap/apmask" "$S/bus/ap/bindings" "$S/bus/ap/drivers_probe" "$S/bus/ap/uevent"
	assert_line "-rw-r--r-- $S/bus/ap/apmask"
	assert_line "-r--r--r-- $S/bus/ap/bindings"
	assert_line "--w------- $S/bus/ap/drivers_probe"
	assert_line "--w------- $S/bus/ap/uevent"
	for f in ap_domain ap_control_domain_mask ap_usage_domain_mask ap_adapter_mask ap_interrupts \
		config_time poll_thread poll_timeout ap_max_domain_id ap_max_adapter_id aqmask scans features \
		drivers_autoprobe; do
		[ -f "$S/bus/ap/$f" ] || fail "bus/ap/$f missing"
	done
	run cat "$S/bus/ap/ap_max_adapter_id" "$S/bus/ap/ap_max_domain_id" "$S/bus/ap/bindings"
	assert_output $'63\n255\n8/8 (complete)'
}

@test "cards and queues: devices, bus links and driver links with exact targets" {
	run readlink "$S/bus/ap/devices/card05" "$S/bus/ap/devices/05.0004" "$S/devices/ap/card05/subsystem" \
		"$S/devices/ap/card05/05.0004/subsystem" "$S/devices/ap/card05/driver" \
		"$S/devices/ap/card05/05.0004/driver" "$S/bus/ap/drivers/cex4card/card05" \
		"$S/bus/ap/drivers/cex4queue/05.0004" "$S/bus/ap/drivers/cex4card/module"
	assert_output "../../../devices/ap/card05
../../../devices/ap/card05/05.0004
../../../bus/ap
../../../../bus/ap
../../../bus/ap/drivers/cex4card
../../../../bus/ap/drivers/cex4queue
../../../../devices/ap/card05
../../../../devices/ap/card05/05.0004
../../../../module/zcrypt_cex4"
	# the AP root device has no subsystem link and is not on the bus
	[ ! -e "$S/devices/ap/subsystem" ]
	[ ! -e "$S/bus/ap/devices/ap" ]
	[ -f "$S/devices/ap/uevent" ]
	run ls "$S/bus/ap/devices"
	assert_output $'05.0004\n05.0047\n05.00ab\n05.00ff\n06.0004\n06.0047\n06.00ab\n06.00ff\ncard05\ncard06'
}

@test "uevent files carry the kernel-abi §4.1 variables" {
	run cat "$S/devices/ap/card05/uevent"
	assert_output $'DEVTYPE=ap_card\nDRIVER=cex4card\nDEV_TYPE=000B\nMODALIAS=ap:t0B\nMODE=cca'
	run cat "$S/devices/ap/card06/06.00ab/uevent"
	assert_output $'DEVTYPE=ap_queue\nDRIVER=cex4queue\nMODE=accel'
	run cat "$S/devices/vfio_ap/matrix/uevent"
	assert_output "DRIVER=vfio_ap"
	run cat "$S/devices/ap/uevent"
	assert_output ""
}

@test "card and queue attributes" {
	run cat "$S/devices/ap/card05/hwtype" "$S/devices/ap/card05/type" "$S/devices/ap/card05/modalias" \
		"$S/devices/ap/card05/online" "$S/devices/ap/card05/config" "$S/devices/ap/card06/ap_functions"
	assert_output $'11\nCEX5C\nap:t0B\n1\n1\n0x8A000000'
	for f in request_count requestq_count pendingq_count reset interrupt config chkstop ap_functions online load; do
		[ -f "$S/devices/ap/card05/05.0047/$f" ] || fail "queue attribute $f missing"
	done
	# status only on vfio_ap-bound queues
	[ ! -e "$S/devices/ap/card05/05.0047/status" ]
}

@test "vfio_ap: matrix device, its bus, the mdev type and the class link" {
	run readlink "$S/devices/vfio_ap/matrix/subsystem" "$S/devices/vfio_ap/matrix/driver" \
		"$S/bus/matrix/devices/matrix" "$S/bus/matrix/drivers/vfio_ap/matrix" "$S/class/mdev_bus/matrix" \
		"$S/bus/mdev/drivers/vfio_ap_mdev/module"
	assert_output "../../../bus/matrix
../../../bus/matrix/drivers/vfio_ap
../../../devices/vfio_ap/matrix
../../../../devices/vfio_ap/matrix
../../devices/vfio_ap/matrix
../../../../module/vfio_ap"
	# the matrix-bus driver has no bind/unbind and no module link; the AP-bus one has
	[ ! -e "$S/bus/matrix/drivers/vfio_ap/bind" ]
	[ ! -e "$S/bus/matrix/drivers/vfio_ap/module" ]
	[ -f "$S/bus/ap/drivers/vfio_ap/bind" ]
	[ -f "$S/bus/ap/drivers/vfio_ap/unbind" ]
	run cat "$S/$TYPE/name" "$S/$TYPE/device_api" "$S/$TYPE/available_instances" "$S/devices/vfio_ap/matrix/features"
	assert_output $'VFIO AP Passthrough Device\nvfio-ap\n65536\nguest_matrix hotplug ap_config'
	run stat -c %A "$S/$TYPE/create"
	assert_output -- "--w-------"
}

@test "an mdev directory: files, modes and links" {
	[ "$(kw $TYPE/create $U1)" = 0 ]
	m=devices/vfio_ap/matrix/$U1
	run readlink "$S/$m/subsystem" "$S/$m/driver" "$S/$m/mdev_type" "$S/$TYPE/devices/$U1" \
		"$S/bus/mdev/devices/$U1" "$S/bus/mdev/drivers/vfio_ap_mdev/$U1" "$S/$m/iommu_group"
	assert_output "../../../../bus/mdev
../../../../bus/mdev/drivers/vfio_ap_mdev
../mdev_supported_types/vfio_ap-passthrough
../../../$U1
../../../devices/vfio_ap/matrix/$U1
../../../../devices/vfio_ap/matrix/$U1
../../../../kernel/iommu_groups/0"
	run readlink "$S/kernel/iommu_groups/0/devices/$U1"
	assert_output "../../../../devices/vfio_ap/matrix/$U1"
	for f in remove assign_adapter unassign_adapter assign_domain unassign_domain assign_control_domain \
		unassign_control_domain; do
		run stat -c %a "$S/$m/$f"
		assert_output 200
	done
	for f in matrix control_domains guest_matrix; do
		run stat -c %a "$S/$m/$f"
		assert_output 444
	done
	run stat -c %a "$S/$m/ap_config"
	assert_output 644
	run cat "$S/$m/uevent"
	assert_output "DRIVER=vfio_ap_mdev"
}

@test "write-only attributes refuse reads with EACCES, read-only ones refuse writes" {
	run cat "$S/$TYPE/create"
	assert_failure
	assert_output --partial "Permission denied"
	run bash -c "echo 1 > '$S/bus/ap/bindings'"
	assert_failure
	assert_output --partial "Permission denied"
	# such failures happen at open and never reach the write log
	run cat "$S/.sim/writes"
	assert_output ""
}

@test "files report 4096 bytes like sysfs and reads see live state" {
	run stat -c %s "$S/bus/ap/apmask"
	assert_output 4096
	run cat "$S/bus/ap/apmask"
	assert_output 0xffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff
	[ "$(kw bus/ap/apmask 0x80)" = 0 ]
	run cat "$S/bus/ap/apmask"
	assert_output 0x8000000000000000000000000000000000000000000000000000000000000000
}

@test "refuses to mount on /sys outside a private mount namespace" {
	mnt_ns=$(readlink /proc/self/ns/mnt)
	run "$SIM" "$HOSTS/seed.yaml" /sys
	assert_failure
	assert_output --partial "refusing to mount on /sys"
	# the real /sys is untouched
	[ ! -e /sys/.sim ]
	[ "$(readlink /proc/self/ns/mnt)" = "$mnt_ns" ]
}

@test "vfio_ap unloaded: no matrix device until modprobe, then MDEV_STATE=registered" {
	sim_stop
	t=$(topo unloaded <<-'Y'
	kernel: 6.12
	vfio_ap: unloaded
	apmask: "0x80"
	cards:
	  - {id: 0x01, type: CEX7C, domains: [0x02]}
	Y
	)
	sim_start "$t"
	[ ! -e "$S/devices/vfio_ap" ]
	[ ! -e "$S/bus/ap/drivers/vfio_ap" ]
	[ ! -e "$S/bus/mdev" ]
	# adapter 0x01 is not in apmask: the queue waits unbound for vfio_ap
	run cat "$S/bus/ap/bindings"
	assert_output "0/1"
	echo 0 >"$S/.sim/uevents"
	echo vfio_ap >"$S/.sim/modprobe"
	[ -d "$S/devices/vfio_ap/matrix/mdev_supported_types/vfio_ap-passthrough" ]
	run readlink "$S/devices/ap/card01/01.0002/driver"
	assert_output "../../../../bus/ap/drivers/vfio_ap"
	run cat "$S/.sim/uevents"
	assert_output --partial $'ACTION=change\nDEVPATH=/devices/vfio_ap/matrix\nSUBSYSTEM=matrix\nMDEV_STATE=registered'
	assert_output --partial $'ACTION=bind\nDEVPATH=/devices/ap/card01/01.0002\nSUBSYSTEM=ap\nDEVTYPE=ap_queue\nDRIVER=vfio_ap'
	assert_output --partial $'BINDINGS=complete\nCOMPLETECOUNT=1'
	run cat "$S/bus/ap/bindings"
	assert_output "1/1 (complete)"
}
