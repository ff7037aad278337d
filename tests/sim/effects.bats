#!/usr/bin/env bats
# kernel-abi.md §2.1 effects, §2.4 create, §2.5 remove, §2.5.1 guest filter,
# §2.3 queue status, §4.2 uevents.

load helpers

setup() {
	sim_start "$HOSTS/seed.yaml"
	M=devices/vfio_ap/matrix/$U1
	M2=devices/vfio_ap/matrix/$U2
}
teardown() {
	echo "detach $U1" >"$S/.sim/guest" 2>/dev/null || true
	sim_stop
}

@test "at mount: INITSCAN=done, then the first BINDINGS=complete with COMPLETECOUNT=1" {
	run cat "$S/.sim/uevents"
	assert_output --partial $'ACTION=change\nDEVPATH=/devices/ap\nSUBSYSTEM=ap\nINITSCAN=done\nSEQNUM='
	assert_output --partial $'ACTION=change\nDEVPATH=/devices/ap\nSUBSYSTEM=ap\nBINDINGS=complete\nCOMPLETECOUNT=1\nSEQNUM='
	assert_output --partial $'ACTION=add\nDEVPATH=/devices/ap/card06/06.00ff\nSUBSYSTEM=ap\nDEVTYPE=ap_queue\nMODE=accel\nSEQNUM='
	assert_output --partial $'ACTION=add\nDEVPATH=/devices/vfio_ap/matrix\nSUBSYSTEM=matrix\nSEQNUM='
	run grep -c "^COMPLETECOUNT=" "$S/.sim/uevents"
	assert_output 1
}

@test "a mask write rebinds queues synchronously and emits unbind/bind and APMASK" {
	echo 0 >"$S/.sim/uevents"
	[ "$(kw bus/ap/apmask -0x05)" = 0 ]
	for d in 0004 0047 00ab 00ff; do
		run readlink "$S/devices/ap/card05/05.$d/driver"
		assert_output ../../../../bus/ap/drivers/vfio_ap
		[ -L "$S/bus/ap/drivers/vfio_ap/05.$d" ]
		[ ! -e "$S/bus/ap/drivers/cex4queue/05.$d" ]
		[ -f "$S/devices/ap/card05/05.$d/status" ]
		[ ! -e "$S/devices/ap/card05/05.$d/online" ]
	done
	run readlink "$S/devices/ap/card06/06.0004/driver"
	assert_output ../../../../bus/ap/drivers/cex4queue
	run cat "$S/.sim/uevents"
	assert_output --partial $'ACTION=unbind\nDEVPATH=/devices/ap/card05/05.0004\nSUBSYSTEM=ap\nDEVTYPE=ap_queue\nMODE=cca\nSEQNUM='
	assert_output --partial $'ACTION=bind\nDEVPATH=/devices/ap/card05/05.0004\nSUBSYSTEM=ap\nDEVTYPE=ap_queue\nDRIVER=vfio_ap\nMODE=cca\nSEQNUM='
	assert_output --partial $'ACTION=change\nDEVPATH=/devices/ap\nSUBSYSTEM=ap\nAPMASK=0xfbffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff\nSEQNUM='
	assert_output --partial $'BINDINGS=complete\nCOMPLETECOUNT=2'
	[ "$(kw bus/ap/aqmask -0xab)" = 0 ]
	run cat "$S/.sim/uevents"
	assert_output --partial $'AQMASK=0xffffffffffffffffffffffffffffffffffffffffffefffffffffffffffffff'
	run readlink "$S/devices/ap/card06/06.00ab/driver"
	assert_output ../../../../bus/ap/drivers/vfio_ap
	# giving it back rebinds to the host driver
	[ "$(kw bus/ap/apmask +0x05)" = 0 ]
	run readlink "$S/devices/ap/card05/05.0004/driver"
	assert_output ../../../../bus/ap/drivers/cex4queue
}

@test "create: the mdev exists, bound, before the write returns; add then bind uevents" {
	echo 0 >"$S/.sim/uevents"
	echo $U1 >"$S/$TYPE/create" && [ -f "$S/$M/assign_adapter" ] && [ -L "$S/$M/driver" ]
	run cat "$S/.sim/uevents"
	assert_output "ACTION=add
DEVPATH=/devices/vfio_ap/matrix/$U1
SUBSYSTEM=mdev
SEQNUM=$(grep -m1 SEQNUM "$S/.sim/uevents" | cut -d= -f2)

ACTION=bind
DEVPATH=/devices/vfio_ap/matrix/$U1
SUBSYSTEM=mdev
DRIVER=vfio_ap_mdev
SEQNUM=$(($(grep -m1 SEQNUM "$S/.sim/uevents" | cut -d= -f2) + 1))"
	run cat "$S/$TYPE/available_instances"
	assert_output 65535
	# assignments make no uevents
	seed_masks
	echo 0 >"$S/.sim/uevents"
	[ "$(kw $M/assign_adapter 5)" = 0 ]
	run cat "$S/.sim/uevents"
	assert_output ""
}

@test "guest filter: adapters without a vfio_ap-bound queue for every assigned domain drop out" {
	seed_masks
	[ "$(kw $TYPE/create $U1)" = 0 ]
	for v in 0x05 0x06; do [ "$(kw $M/assign_adapter $v)" = 0 ]; done
	for v in 0x04 0xab; do [ "$(kw $M/assign_domain $v)" = 0 ]; done
	[ "$(kw $M/assign_control_domain 0x04)" = 0 ]
	run cat "$S/$M/guest_matrix"
	assert_output $'05.0004\n05.00ab\n06.0004\n06.00ab'
	# unbind one queue of card 06: the whole adapter leaves the guest
	[ "$(kw bus/ap/drivers/vfio_ap/unbind 06.00ab)" = 0 ]
	run cat "$S/$M/guest_matrix"
	assert_output $'05.0004\n05.00ab'
	run cat "$S/$M/matrix"
	assert_output $'05.0004\n05.00ab\n06.0004\n06.00ab'
	[ "$(kw bus/ap/drivers/vfio_ap/bind 06.00ab)" = 0 ]
	run cat "$S/$M/guest_matrix"
	assert_output $'05.0004\n05.00ab\n06.0004\n06.00ab'
	# a domain outside the LPAR configuration is filtered, adapters stay
	[ "$(kw bus/ap/aqmask -0x10)" = 0 ]
	[ "$(kw $M/assign_domain 0x10)" = 0 ]
	run cat "$S/$M/guest_matrix"
	assert_output $'05.0004\n05.00ab\n06.0004\n06.00ab'
	# an adapter outside the configuration (hot unplugged card) is filtered
	echo "remove 0x06" >"$S/.sim/hotplug"
	run cat "$S/$M/guest_matrix"
	assert_output $'05.0004\n05.00ab'
	run cat "$S/$M/matrix"
	assert_line 06.0010
	# deconfiguring a card takes its adapter out of the guest as well
	[ "$(kw devices/ap/card05/config 0)" = 0 ]
	run cat "$S/$M/guest_matrix"
	assert_output $'.0004\n.00ab'
	run grep -c "^CONFIG=0" "$S/.sim/uevents"
	assert_output 5
}

@test "guest filter is state: an unassign does not filter again, an assign that adds, ap_config and a probe do" {
	seed_masks
	[ "$(kw $TYPE/create $U1)" = 0 ]
	for v in 0x05 0x06; do [ "$(kw $M/assign_adapter $v)" = 0 ]; done
	for v in 0x04 0xab; do [ "$(kw $M/assign_domain $v)" = 0 ]; done
	[ "$(kw bus/ap/drivers/vfio_ap/unbind 06.00ab)" = 0 ]
	run cat "$S/$M/guest_matrix"
	assert_output $'05.0004\n05.00ab'
	# the domain that kept adapter 06 out goes: 06 stays out
	[ "$(kw $M/unassign_domain 0xab)" = 0 ]
	run cat "$S/$M/guest_matrix"
	assert_output 05.0004
	run cat "$S/$M/matrix"
	assert_output $'05.0004\n06.0004'
	# writing an adapter that is assigned returns early
	[ "$(kw $M/assign_adapter 0x06)" = 0 ]
	run cat "$S/$M/guest_matrix"
	assert_output 05.0004
	# unassign (not in the view: nothing changes), assign: filtered again
	[ "$(kw $M/unassign_adapter 0x06)" = 0 ]
	run cat "$S/$M/guest_matrix"
	assert_output 05.0004
	[ "$(kw $M/assign_adapter 0x06)" = 0 ]
	run cat "$S/$M/guest_matrix"
	assert_output $'05.0004\n06.0004'
	# the same state again; ap_config written with its own value filters
	[ "$(kw $M/assign_domain 0xab)" = 0 ]
	[ "$(kw $M/unassign_domain 0xab)" = 0 ]
	run cat "$S/$M/guest_matrix"
	assert_output 05.0004
	[ "$(kw $M/ap_config "$(cat "$S/$M/ap_config")")" = 0 ]
	run cat "$S/$M/guest_matrix"
	assert_output $'05.0004\n06.0004'
	# and once more; a probe of one of the mdev's queues filters
	[ "$(kw $M/assign_domain 0xab)" = 0 ]
	[ "$(kw $M/unassign_domain 0xab)" = 0 ]
	[ "$(kw bus/ap/drivers/vfio_ap/unbind 06.0004)" = 0 ]
	run cat "$S/$M/guest_matrix"
	assert_output 05.0004
	[ "$(kw bus/ap/drivers/vfio_ap/bind 06.0004)" = 0 ]
	run cat "$S/$M/guest_matrix"
	assert_output $'05.0004\n06.0004'
}

@test "queue status: unassigned, assigned, in use (only what the guest really gets)" {
	seed_masks
	[ "$(kw $TYPE/create $U1)" = 0 ]
	run cat "$S/devices/ap/card05/05.0004/status"
	assert_output unassigned
	for v in 0x05 0x06; do [ "$(kw $M/assign_adapter $v)" = 0 ]; done
	[ "$(kw $M/assign_domain 0x04)" = 0 ]
	run cat "$S/devices/ap/card05/05.0004/status" "$S/devices/ap/card05/05.0047/status"
	assert_output $'assigned\nunassigned'
	echo "attach $U1" >"$S/.sim/guest"
	run cat "$S/devices/ap/card05/05.0004/status" "$S/devices/ap/card06/06.0004/status"
	assert_output $'in use\nin use'
	# hot unplug of adapter 06 by the filter: its queue is assigned, not in use
	[ "$(kw bus/ap/drivers/vfio_ap/unbind 06.0047)" = 0 ]
	[ "$(kw $M/assign_domain 0x47)" = 0 ]
	run cat "$S/devices/ap/card05/05.0004/status" "$S/devices/ap/card06/06.0004/status"
	assert_output $'in use\nassigned'
	run cat "$S/.sim/dump"
	assert_line "mdev $U1 attached"
	assert_line "queue 06.0004 vfio_ap assigned"
}

@test "remove of an attached mdev blocks until detach; the rest keeps working" {
	seed_masks
	[ "$(kw $TYPE/create $U1)" = 0 ]
	[ "$(kw $M/assign_adapter 0x05)" = 0 ]
	echo "attach $U1" >"$S/.sim/guest"
	( echo 1 >"$S/$M/remove"; echo "done $?" >"$BATS_TEST_TMPDIR/removed" ) &
	pid=$!
	for _ in $(seq 100); do [ -e "$S/$M/remove" ] || break; sleep 0.02; done
	# the remove file is gone at once (device_remove_file_self), the device stays
	[ ! -e "$S/$M/remove" ]
	[ -d "$S/$M" ]
	[ ! -e "$BATS_TEST_TMPDIR/removed" ]
	# other writes and reads go on meanwhile
	[ "$(kw $TYPE/create $U2)" = 0 ]
	[ "$(kw $M2/assign_adapter 0x06)" = 0 ]
	run cat "$S/.sim/dump"
	assert_line "mdev $U1 attached removing"
	echo "detach $U1" >"$S/.sim/guest"
	wait $pid
	run cat "$BATS_TEST_TMPDIR/removed"
	assert_output "done 0"
	[ ! -e "$S/$M" ]
	[ ! -e "$S/bus/mdev/devices/$U1" ]
	[ ! -e "$S/$TYPE/devices/$U1" ]
	run cat "$S/$TYPE/available_instances"
	assert_output 65535
	run grep -A2 "^ACTION=remove" "$S/.sim/uevents"
	assert_output --partial "DEVPATH=/devices/vfio_ap/matrix/$U1"
	run tail -n1 "$S/.sim/writes"
	assert_output "$M/remove	1	0"
}

@test "manual unbind/bind moves a queue between drivers with uevents" {
	echo 0 >"$S/.sim/uevents"
	[ "$(kw bus/ap/drivers/cex4queue/unbind 05.0047)" = 0 ]
	[ ! -e "$S/devices/ap/card05/05.0047/driver" ]
	run cat "$S/bus/ap/bindings" "$S/devices/ap/card05/05.0047/uevent"
	assert_output $'7/8\nDEVTYPE=ap_queue\nMODE=cca'
	# unbind events carry no DRIVER (driver core clears it before the event)
	run cat "$S/.sim/uevents"
	assert_output --partial $'ACTION=unbind\nDEVPATH=/devices/ap/card05/05.0047\nSUBSYSTEM=ap\nDEVTYPE=ap_queue\nMODE=cca\n'
	[ "$(kw bus/ap/drivers/cex4queue/bind 05.0047)" = 0 ]
	run cat "$S/bus/ap/bindings"
	assert_output "8/8 (complete)"
	run cat "$S/.sim/uevents"
	assert_output --partial $'BINDINGS=complete\nCOMPLETECOUNT=2'
}

@test "writing an action to a uevent file sends a synthetic event" {
	echo 0 >"$S/.sim/uevents"
	[ "$(kw devices/ap/card05/05.0004/uevent change)" = 0 ]
	[ "$(kw devices/ap/card05/uevent "add 0ef1e7f5-8f0e-4b3c-9d7a-1b2c3d4e5f60 A=b")" = 0 ]
	run kw devices/ap/card05/uevent frobnicate
	assert_output EINVAL
	run cat "$S/.sim/uevents"
	assert_output --partial $'ACTION=change\nDEVPATH=/devices/ap/card05/05.0004\nSUBSYSTEM=ap\nSYNTH_UUID=0\nDEVTYPE=ap_queue\nDRIVER=cex4queue\nMODE=cca\n'
	assert_output --partial $'SYNTH_UUID=0ef1e7f5-8f0e-4b3c-9d7a-1b2c3d4e5f60\nSYNTH_ARG_A=b\nDEVTYPE=ap_card'
}

# ev_summary: the uevent log as one line per event, "ACTION DEVPATH [BINDINGS COMPLETECOUNT]"
ev_summary() {
	awk -v RS= -F'\n' '{ a = ""; p = ""; c = ""
		for (i = 1; i <= NF; i++) {
			if ($i ~ /^ACTION=/) a = substr($i, 8)
			if ($i ~ /^DEVPATH=/) p = substr($i, 9)
			if ($i ~ /^COMPLETECOUNT=/) c = " " $i
		}
		print a " " p c }' "$S/.sim/uevents"
}

@test "6.12: a hot plugged card re-arms bindings complete: one BINDINGS=complete after its last queue binds, none on unplug" {
	echo 0 >"$S/.sim/uevents"
	echo "{id: 0x07, type: CEX7P, mode: ep11, domains: [0x04, 0x47, 0xab]}" >"$S/.sim/hotplug"
	run ev_summary
	assert_output "add /devices/ap/card07
bind /devices/ap/card07
add /devices/ap/card07/07.0004
bind /devices/ap/card07/07.0004
add /devices/ap/card07/07.0047
bind /devices/ap/card07/07.0047
add /devices/ap/card07/07.00ab
bind /devices/ap/card07/07.00ab
change /devices/ap COMPLETECOUNT=2"
	run cat "$S/.sim/uevents"
	assert_output --partial $'ACTION=change\nDEVPATH=/devices/ap\nSUBSYSTEM=ap\nBINDINGS=complete\nCOMPLETECOUNT=2\nSEQNUM='
	# unplugging probes nothing: no event
	echo 0 >"$S/.sim/uevents"
	echo "remove 0x07" >"$S/.sim/hotplug"
	run grep -c '^BINDINGS=' "$S/.sim/uevents"
	assert_output 0
	# every later hot plug settles once more
	echo 0 >"$S/.sim/uevents"
	echo "{id: 0x08, type: CEX7A, mode: accel, domains: [0x04]}" >"$S/.sim/hotplug"
	run grep -c '^BINDINGS=complete$' "$S/.sim/uevents"
	assert_output 1
	run grep '^COMPLETECOUNT=' "$S/.sim/uevents"
	assert_output COMPLETECOUNT=3
}

@test "5.15: every successful probe that leaves all queues bound sends BINDINGS=complete (hot plug: card + each queue; mask write: each queue)" {
	sim_stop
	sim_start "$HOSTS/static-5.15.yaml"
	run grep '^COMPLETECOUNT=' "$S/.sim/uevents"
	assert_output COMPLETECOUNT=1
	echo 0 >"$S/.sim/uevents"
	echo "{id: 0x08, type: CEX5A, mode: accel, domains: [0x04, 0x47]}" >"$S/.sim/hotplug"
	run ev_summary
	assert_output "add /devices/ap/card08
bind /devices/ap/card08
change /devices/ap COMPLETECOUNT=2
add /devices/ap/card08/08.0004
bind /devices/ap/card08/08.0004
change /devices/ap COMPLETECOUNT=3
add /devices/ap/card08/08.0047
bind /devices/ap/card08/08.0047
change /devices/ap COMPLETECOUNT=4"
	echo 0 >"$S/.sim/uevents"
	echo "remove 0x08" >"$S/.sim/hotplug"
	run grep -c '^BINDINGS=' "$S/.sim/uevents"
	assert_output 0
	# vfio_ap binds nothing here (all queues are the host's): no event; then
	# a mask write moves card 05's two queues, each reprobe sends one
	echo vfio_ap >"$S/.sim/modprobe"
	echo 0 >"$S/.sim/uevents"
	[ "$(kw bus/ap/apmask -0x05)" = 0 ]
	run grep '^COMPLETECOUNT=' "$S/.sim/uevents"
	assert_output $'COMPLETECOUNT=5\nCOMPLETECOUNT=6'
}
