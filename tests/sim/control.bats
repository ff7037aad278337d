#!/usr/bin/env bats
# The .sim control directory: writes, fail, guest, modprobe, hotplug, uevents (and /sys/kernel/uevent_seqnum),
# requests, dump.

load helpers

setup() { sim_start "$HOSTS/seed.yaml"; }
teardown() { sim_stop; }

@test "writes: one line per kernel write, PATH TAB VALUE TAB RESULT; 0 clears" {
	[ "$(kw bus/ap/apmask -5)" = 0 ]
	[ "$(kw bus/ap/apmask nonsense)" = EINVAL ]
	echo detach $U1 >"$S/.sim/guest" 2>/dev/null || true
	run cat "$S/.sim/writes"
	assert_output $'bus/ap/apmask\t-5\t0\nbus/ap/apmask\tnonsense\tEINVAL'
	echo 0 >"$S/.sim/writes"
	run cat "$S/.sim/writes"
	assert_output ""
}

@test "fail GLOB ERRNO COUNT: the write fails COUNT times without effect" {
	echo $U1 >"$S/$TYPE/create"
	echo "devices/vfio_ap/matrix/*/assign_adapter EIO 2" >"$S/.sim/fail"
	run cat "$S/.sim/fail"
	assert_output "devices/vfio_ap/matrix/*/assign_adapter EIO 2"
	m=devices/vfio_ap/matrix/$U1
	[ "$(kw $m/assign_adapter 0x05)" = EIO ]
	[ "$(kw $m/assign_domain 0x05)" = 0 ]
	run bash -c "echo 0x05 > $S/$m/assign_adapter"
	assert_failure
	assert_output --partial "Input/output error"
	run cat "$S/$m/matrix"
	assert_output ".0005"
	[ "$(kw $m/assign_adapter 0x40)" = ENODEV ]
	run cat "$S/.sim/fail"
	assert_output ""
}

@test "fail rfail GLOB ERRNO COUNT: reads and listings fail COUNT times; writes go through" {
	echo "rfail bus/ap/a*mask EIO 2" >"$S/.sim/fail"
	echo "rfail devices/ap ENOTCONN 1" >"$S/.sim/fail"
	run cat "$S/.sim/fail"
	assert_output $'rfail bus/ap/a*mask EIO 2\nrfail devices/ap ENOTCONN 1'
	[ "$(kw bus/ap/apmask -5)" = 0 ]
	run cat "$S/bus/ap/apmask"
	assert_failure
	assert_output --partial "Input/output error"
	run ls "$S/devices/ap"
	assert_failure
	assert_output --partial "Transport endpoint is not connected"
	run ls "$S/devices/ap"
	assert_success
	assert_output --partial card05
	run cat "$S/bus/ap/aqmask"
	assert_failure
	run cat "$S/.sim/fail"
	assert_output ""
	run cat "$S/bus/ap/apmask"
	assert_success
	assert_output --partial 0x
}

@test "fail after N ERRNO: the N+1th kernel write fails" {
	echo "after 2 EADDRINUSE" >"$S/.sim/fail"
	[ "$(kw bus/ap/apmask -1)" = 0 ]
	[ "$(kw bus/ap/apmask -2)" = 0 ]
	[ "$(kw bus/ap/apmask -3)" = EADDRINUSE ]
	[ "$(kw bus/ap/apmask -4)" = 0 ]
	run cat "$S/bus/ap/apmask"
	assert_output 0x97ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff
	run bash -c "echo 'bogus line' > $S/.sim/fail"
	assert_failure
	echo "after 0 EIO" >"$S/.sim/fail"
	echo clear >"$S/.sim/fail"
	[ "$(kw bus/ap/apmask -4)" = 0 ]
}

@test "delay GLOB MS slows matching writes so a writer can be killed mid-run" {
	echo "delay bus/ap/aqmask 300" >"$S/.sim/fail"
	start=$(date +%s%N)
	[ "$(kw bus/ap/apmask -1)" = 0 ]
	[ $(( ($(date +%s%N) - start) / 1000000 )) -lt 250 ]
	start=$(date +%s%N)
	[ "$(kw bus/ap/aqmask -1)" = 0 ]
	[ $(( ($(date +%s%N) - start) / 1000000 )) -ge 300 ]
	echo 0 >"$S/.sim/writes"
	bash -c "for i in 2 3 4 5 6 7 8 9; do echo -\$i > $S/bus/ap/aqmask; done" &
	pid=$!
	sleep 0.45
	kill $pid
	wait $pid || true
	n=$(wc -l <"$S/.sim/writes")
	[ "$n" -ge 1 ] && [ "$n" -lt 8 ] || fail "$n writes went through"
}

@test "rdelay GLOB MS: the next matching read waits and shows the state after the wait; the rule goes when it fires" {
	echo "rdelay bus/ap/aqmask 800" >"$S/.sim/fail"
	run cat "$S/.sim/fail"
	assert_output "rdelay bus/ap/aqmask 800"
	start=$(date +%s%N)
	cat "$S/bus/ap/apmask" >/dev/null
	[ $(( ($(date +%s%N) - start) / 1000000 )) -lt 600 ] || fail "a read of another file waited"
	cat "$S/bus/ap/aqmask" >"$BATS_TEST_TMPDIR/aq" &
	pid=$!
	for ((i = 0; i < 100; i++)); do [ -z "$(cat "$S/.sim/fail")" ] && break; sleep 0.05; done
	[ -z "$(cat "$S/.sim/fail")" ] || fail "the rule did not fire"
	# the read waits; a write meanwhile goes through, and the read shows it
	[ "$(kw bus/ap/aqmask -0)" = 0 ]
	kill -0 $pid || fail "the read did not wait"
	wait $pid
	run cat "$BATS_TEST_TMPDIR/aq"
	assert_output 0x7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff
	start=$(date +%s%N)
	cat "$S/bus/ap/aqmask" >/dev/null
	[ $(( ($(date +%s%N) - start) / 1000000 )) -lt 600 ] || fail "the second read waited too"
	run bash -c "echo 'rdelay bus/ap/aqmask 0' > $S/.sim/fail"
	assert_failure
}

@test "wdelay GLOB MS: the next matching write waits, once; the rule goes when it fires" {
	echo "wdelay bus/ap/aqmask 800" >"$S/.sim/fail"
	run cat "$S/.sim/fail"
	assert_output "wdelay bus/ap/aqmask 800"
	start=$(date +%s%N)
	[ "$(kw bus/ap/apmask -1)" = 0 ]
	[ $(( ($(date +%s%N) - start) / 1000000 )) -lt 600 ] || fail "a write of another file waited"
	[ -n "$(cat "$S/.sim/fail")" ] || fail "another file's write took the rule"
	echo -2 >"$S/bus/ap/aqmask" &
	pid=$!
	for ((i = 0; i < 100; i++)); do [ -z "$(cat "$S/.sim/fail")" ] && break; sleep 0.05; done
	[ -z "$(cat "$S/.sim/fail")" ] || fail "the rule did not fire"
	# the write waits: not in the log yet, and the mask unchanged
	kill -0 $pid || fail "the write did not wait"
	! grep -q '^bus/ap/aqmask' "$S/.sim/writes" || fail "logged before it was handled"
	wait $pid
	grep -qx $'bus/ap/aqmask\t-2\t0' "$S/.sim/writes"
	start=$(date +%s%N)
	[ "$(kw bus/ap/aqmask -3)" = 0 ]
	[ $(( ($(date +%s%N) - start) / 1000000 )) -lt 600 ] || fail "the second write waited too"
	run bash -c "echo 'wdelay bus/ap/aqmask 0' > $S/.sim/fail"
	assert_failure
}

@test "wdelay: of two rules that match one write only the first fires; the second waits for the next write" {
	echo "wdelay bus/ap/aqmask 700" >"$S/.sim/fail"
	echo "wdelay bus/ap/* 700" >"$S/.sim/fail"
	echo -2 >"$S/bus/ap/aqmask" &
	pid=$!
	for ((i = 0; i < 100; i++)); do [ "$(cat "$S/.sim/fail")" = "wdelay bus/ap/* 700" ] && break; sleep 0.05; done
	run cat "$S/.sim/fail"
	assert_output "wdelay bus/ap/* 700"
	wait $pid
	echo -3 >"$S/bus/ap/aqmask" &
	pid=$!
	for ((i = 0; i < 100; i++)); do [ -z "$(cat "$S/.sim/fail")" ] && break; sleep 0.05; done
	[ -z "$(cat "$S/.sim/fail")" ] || fail "the second rule did not fire on the second write"
	kill -0 $pid || fail "the second write did not wait"
	wait $pid
	grep -qx $'bus/ap/aqmask\t-3\t0' "$S/.sim/writes"
}

@test "guest: attach/detach need an existing mdev" {
	run bash -c "echo attach $U1 > $S/.sim/guest"
	assert_failure
	echo $U1 >"$S/$TYPE/create"
	echo "attach $U1" >"$S/.sim/guest"
	run cat "$S/.sim/dump"
	assert_line "mdev $U1 attached"
	echo "detach $U1" >"$S/.sim/guest"
	run bash -c "echo frob $U1 > $S/.sim/guest"
	assert_failure
}

@test "hotplug: a card line adds a card with its queues; remove takes it away" {
	echo 0 >"$S/.sim/uevents"
	echo "{id: 0x07, type: CEX7P, mode: ep11, domains: [0x04, 0x47]}" >"$S/.sim/hotplug"
	run readlink "$S/devices/ap/card07/07.0047/driver" "$S/bus/ap/devices/07.0004"
	assert_output $'../../../../bus/ap/drivers/cex4queue\n../../../devices/ap/card07/07.0004'
	run cat "$S/devices/ap/card07/type" "$S/devices/ap/card07/07.0047/uevent" "$S/bus/ap/bindings"
	assert_output $'CEX7P\nDEVTYPE=ap_queue\nDRIVER=cex4queue\nMODE=ep11\n10/10 (complete)'
	run cat "$S/.sim/uevents"
	assert_output --partial $'ACTION=add\nDEVPATH=/devices/ap/card07\nSUBSYSTEM=ap\nDEVTYPE=ap_card\nDEV_TYPE=000D\nMODALIAS=ap:t0D\nMODE=ep11\n'
	run bash -c "echo '{id: 0x07, type: CEX7P}' > $S/.sim/hotplug"
	assert_failure
	echo 0 >"$S/.sim/uevents"
	echo "remove 0x07" >"$S/.sim/hotplug"
	[ ! -e "$S/devices/ap/card07" ]
	[ ! -e "$S/bus/ap/devices/07.0004" ]
	[ ! -e "$S/bus/ap/drivers/cex4queue/07.0004" ]
	run grep -c "^ACTION=remove" "$S/.sim/uevents"
	assert_output 3
	run bash -c "echo 'remove 0x07' > $S/.sim/hotplug"
	assert_failure
}

@test "modprobe: loading twice is fine, unknown modules fail" {
	echo vfio_ap >"$S/.sim/modprobe"
	run bash -c "echo nosuchmod > $S/.sim/modprobe"
	assert_failure
}

@test "uevents: blocks of KEY=VALUE lines separated by blank lines; 0 clears" {
	echo 0 >"$S/.sim/uevents"
	[ "$(kw bus/ap/apmask -0x06)" = 0 ]
	# every block starts with ACTION, DEVPATH, SUBSYSTEM and ends with SEQNUM
	run awk 'BEGIN{RS="";FS="\n"} {if ($1 !~ /^ACTION=/ || $2 !~ /^DEVPATH=/ || $3 !~ /^SUBSYSTEM=/ || $NF !~ /^SEQNUM=/) bad++; n++} END{print n, bad+0}' "$S/.sim/uevents"
	# 4 unbind + 4 bind + APMASK + BINDINGS
	assert_output "10 0"
	# /sys/kernel/uevent_seqnum: the last SEQNUM sent, read only
	last=$(awk -F= '/^SEQNUM=/ {n = $2} END {print n}' "$S/.sim/uevents")
	[ "$last" -gt 10 ] || fail "last SEQNUM $last"
	run cat "$S/kernel/uevent_seqnum"
	assert_output "$last"
	[ "$(kw bus/ap/apmask +0x06)" = 0 ]
	[ "$(cat "$S/kernel/uevent_seqnum")" -gt "$last" ] || fail "uevent_seqnum did not move"
	run bash -c "echo 1 > $S/kernel/uevent_seqnum"
	assert_failure
}

@test "requests: counts the operations on attributes, not on .sim; 0 clears, anything else is EINVAL" {
	echo 0 >"$S/.sim/requests"
	a=$(cat "$S/.sim/requests")
	b=$(cat "$S/.sim/requests")
	# a path walk costs one stat of the mount's root (the permission check),
	# the .sim files themselves nothing
	[ "$a" -le 1 ] && [ $((b - a)) -le 1 ] || fail "reading the counter counted $a, then $((b - a))"
	cat "$S/.sim/dump" "$S/.sim/writes" "$S/.sim/uevents" >/dev/null
	c=$(cat "$S/.sim/requests")
	[ $((c - b)) -le 4 ] || fail "reading three control files counted $((c - b))"
	cat "$S/bus/ap/apmask" >/dev/null
	d=$(cat "$S/.sim/requests")
	# the look-ups of bus, ap and apmask, the open, a read and the release at least
	[ $((d - c)) -ge 6 ] || fail "one cat of an attribute counted $((d - c)) requests"
	run bash -c "echo 5 > $S/.sim/requests"
	assert_failure
	echo 0 >"$S/.sim/requests"
	[ "$(cat "$S/.sim/requests")" -le 1 ]
}

@test "dump: the canonical state of the seed host after boot" {
	run cat "$S/.sim/dump"
	assert_output "profile 6.12
vfio_ap loaded
max_adapter 0x3f
max_domain 0xff
apmask 0xffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff
aqmask 0xffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff
bindings 8/8 complete
card 05 CEX5C cca cex4card
queue 05.0004 cex4queue
queue 05.0047 cex4queue
queue 05.00ab cex4queue
queue 05.00ff cex4queue
card 06 CEX5A accel cex4card
queue 06.0004 cex4queue
queue 06.0047 cex4queue
queue 06.00ab cex4queue
queue 06.00ff cex4queue"
}

@test "topology errors are reported with line and column" {
	sim_stop
	t=$(topo bad <<-'Y'
	kernel: 6.12
	cards:
	  - {id: 0x05, type: CEX5Q, domains: [0x04]}
	Y
	)
	S=$(mktemp -d "$BATS_TEST_TMPDIR/sys.XXXXXX")
	run "$SIM" "$t" "$S"
	assert_failure 65
	assert_output --partial "bad.yaml:3:"
	assert_output --partial "unknown card type"
	t=$(topo bad2 <<-'Y'
	kernel: 7.99x
	Y
	)
	run "$SIM" "$t" "$S"
	assert_failure 65
	assert_output --partial "unknown kernel profile"
}
