#!/usr/bin/env bats
# kernel-abi.md §2 parsing primitives: base-0 numbers for assign attributes,
# hex bitmaps and +N,-M lists for masks, 36/37-character UUIDs for create,
# the 201-byte ap_config, trailing newline optional, O_TRUNC accepted.

load helpers

setup() {
	sim_start "$HOSTS/seed.yaml"
	M=devices/vfio_ap/matrix/$U1
	[ "$(kw $TYPE/create $U1)" = 0 ]
}
teardown() { sim_stop; }

@test "assign_domain parses base 0: 47 is 0x2f, 0x47 is 71, 047 is octal, 08 is EINVAL" {
	[ "$(kw $M/assign_domain 47)" = 0 ]
	[ "$(kw $M/assign_domain 0x47)" = 0 ]
	[ "$(kw $M/assign_domain 047)" = 0 ]
	[ "$(kw $M/assign_domain 0X10)" = 0 ]
	[ "$(kw $M/assign_domain +5)" = 0 ]
	run cat "$S/$M/matrix"
	assert_output $'.0005\n.0010\n.0027\n.002f\n.0047'
	for bad in 08 -5 " 5" "5 " "" 0x "5x" "1e2"; do
		run kw $M/assign_domain "$bad"
		assert_output EINVAL
	done
	run kw $M/assign_domain 99999999999999999999999
	assert_output ERANGE
}

@test "assign attributes accept a value without newline and writes with O_APPEND" {
	[ "$(kwn $M/assign_adapter 0x05)" = 0 ]
	echo 0x06 >>"$S/$M/assign_adapter"
	run cat "$S/$M/matrix"
	assert_output $'05.\n06.'
	run cut -f2 "$S/.sim/writes"
	assert_line 0x05
	assert_line 0x06
}

@test "absolute masks are hex bitmaps: a bare 15 is bits 3, 5 and 7" {
	[ "$(kw bus/ap/apmask 15)" = 0 ]
	run cat "$S/bus/ap/apmask"
	assert_output 0x1500000000000000000000000000000000000000000000000000000000000000
	[ "$(kw bus/ap/apmask x8)" = 0 ]
	run cat "$S/bus/ap/apmask"
	assert_output 0x8000000000000000000000000000000000000000000000000000000000000000
	[ "$(kw bus/ap/aqmask "")" = 0 ]
	run cat "$S/bus/ap/aqmask"
	assert_output 0x0000000000000000000000000000000000000000000000000000000000000000
	[ "$(kw bus/ap/aqmask 0xFFff)" = 0 ]
	run cat "$S/bus/ap/aqmask"
	assert_output 0xffff000000000000000000000000000000000000000000000000000000000000
	for bad in 0X15 0x1g " 15" 15\ \  "0x$(printf 'f%.0s' $(seq 65))"; do
		run kw bus/ap/apmask "$bad"
		assert_output EINVAL
	done
}

@test "relative mask lists: +N -N +N-M, base 0 with octal, separators , and newline" {
	[ "$(kw bus/ap/apmask 0x)" = 0 ]
	[ "$(kw bus/ap/apmask "+0x10-0x13,,+010")" = 0 ]
	run cat "$S/bus/ap/apmask"
	assert_output 0x0080f00000000000000000000000000000000000000000000000000000000000
	[ "$(kw bus/ap/apmask $'-0x11\n-16')" = 0 ]
	run cat "$S/bus/ap/apmask"
	assert_output 0x0080300000000000000000000000000000000000000000000000000000000000
	# all or nothing: a bad term leaves the mask alone
	for bad in "+08" "+3 " "+256" "+5-3" "+1,5" "+" "+0x"; do
		run kw bus/ap/apmask "$bad"
		assert_output EINVAL
	done
	run cat "$S/bus/ap/apmask"
	assert_output 0x0080300000000000000000000000000000000000000000000000000000000000
}

@test "create takes 36 or 37 characters and a valid UUID, lowercased" {
	run kwn $TYPE/create 66666666-7777-8888-9999-AAAAAAAAAAAA
	assert_output 0
	[ -d "$S/devices/vfio_ap/matrix/$U2" ]
	# the 37th character is not checked (guid_parse looks at 36)
	run kwn $TYPE/create 22222222-7777-8888-9999-aaaaaaaaaaaaX
	assert_output 0
	[ -d "$S/devices/vfio_ap/matrix/22222222-7777-8888-9999-aaaaaaaaaaaa" ]
	for bad in 33333333-7777-8888-9999-aaaaaaaaaaa 33333333-7777-8888-9999-aaaaaaaaaaaa\ \  \
		33333333x7777-8888-9999-aaaaaaaaaaaa 3333333g-7777-8888-9999-aaaaaaaaaaaa \
		{33333333-7777-8888-9999-aaaaaaaaaaa}; do
		run kwn $TYPE/create "$bad"
		assert_output EINVAL
	done
}

@test "ap_config reads 201 bytes and parses three hex fields" {
	run wc -c <"$S/$M/ap_config"
	assert_output 201
	seed_masks
	a=0x06; d=0x0800000000000000000000000000000000000000001000000000000000000000; c=0x08
	[ "$(kw $M/ap_config "$a,$d,$c")" = 0 ]
	run cat "$S/$M/matrix"
	assert_output $'05.0004\n05.00ab\n06.0004\n06.00ab'
	run cat "$S/$M/control_domains"
	assert_output "0004"
	# text after the third field is ignored (only 201 bytes are looked at)
	[ "$(kw $M/ap_config "0x04,0x08,0x08,garbage")" = 0 ]
	long="0x06$(printf '0%.0s' $(seq 62)),0x08$(printf '0%.0s' $(seq 62)),0x$(printf '0%.0s' $(seq 64))"
	[ ${#long} = 200 ]
	[ "$(kw $M/ap_config "${long},junk")" = 0 ]
	run cat "$S/$M/matrix"
	assert_output $'05.0004\n06.0004'
	# empty fields clear
	[ "$(kw $M/ap_config ",,")" = 0 ]
	run cat "$S/$M/matrix"
	assert_output ""
	run kwn $M/ap_config "0x04,0x08"
	assert_output EINVAL
	run kw $M/ap_config "0x04,0x08,0X08"
	assert_output EINVAL
	run kw $M/ap_config "0x04;0x08;0x08"
	assert_output EINVAL
}

@test "the write log strips one newline and escapes the rest" {
	# one write(2) is one store, even with newlines inside
	run bash -c "printf '+1\\n+2\\t\\n' | dd of='$S/bus/ap/apmask' bs=64 status=none"
	assert_failure
	run tail -n1 "$S/.sim/writes"
	assert_output $'bus/ap/apmask\t+1\\n+2\\t\tEINVAL'
}
