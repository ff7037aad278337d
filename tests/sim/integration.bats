#!/usr/bin/env bats
# The simulator as the rest of the system sees it, through tests/lib/with-sim:
# libudev (udevadm info/test), mdevctl unchanged, with-sim's own promises
# (exit status, cleanup on every exit path, private /etc and /run, the real
# /sys untouched), the seed's manual procedure against golden dumps, and the
# 64 x 85 host.

load helpers
bats_require_minimum_version 1.5.0

setup() {
	need_root
	command -v findmnt >/dev/null || skip "findmnt missing"
	GOLDEN=$BATS_TEST_DIRNAME/golden
}

# ws TOPOLOGY SCRIPT: run the bash SCRIPT (text) inside with-sim
ws() {
	local f
	f=$(mktemp "$BATS_TEST_TMPDIR/inner.XXXXXX")
	printf '%s\n' "$2" >"$f"
	"$WITH_SIM" "$1" -- bash -eu "$f"
}

@test "libudev: udevadm info shows the queue's SUBSYSTEM, DEVTYPE, DRIVER and MODE, live" {
	command -v udevadm >/dev/null || skip "udevadm missing"
	run ws "$HOSTS/seed.yaml" '
		udevadm info --query=property /sys/devices/ap/card05/05.0004
		echo --
		udevadm info --query=property /sys/bus/ap/devices/card06
		echo --
		echo -0x05 >/sys/bus/ap/apmask
		udevadm info --query=property /sys/devices/ap/card05/05.0004
		echo --
		udevadm info --query=property /sys/devices/vfio_ap/matrix'
	assert_success
	# (udevadm lists the properties sorted, DEVPATH first)
	assert_output "DEVPATH=/devices/ap/card05/05.0004
DEVTYPE=ap_queue
DRIVER=cex4queue
MODE=cca
SUBSYSTEM=ap
--
DEVPATH=/devices/ap/card06
DEVTYPE=ap_card
DRIVER=cex4card
DEV_TYPE=000B
MODALIAS=ap:t0B
MODE=accel
SUBSYSTEM=ap
--
DEVPATH=/devices/ap/card05/05.0004
DEVTYPE=ap_queue
DRIVER=vfio_ap
MODE=cca
SUBSYSTEM=ap
--
DEVPATH=/devices/vfio_ap/matrix
DRIVER=vfio_ap
SUBSYSTEM=matrix"
}

@test "libudev: udevadm test runs the rules on the matrix device and on an mdev" {
	command -v udevadm >/dev/null || skip "udevadm missing"
	run ws "$HOSTS/seed.yaml" "
		udevadm test -a change /sys/devices/vfio_ap/matrix 2>/dev/null | sed -n '/^DEVPATH=/,\$p'
		echo --
		echo $U1 >/sys/$TYPE/create
		udevadm test /sys/bus/mdev/devices/$U1 2>/dev/null | sed -n '/^DEVPATH=/,\$p'"
	assert_success
	assert_line "DEVPATH=/devices/vfio_ap/matrix"
	assert_line "SUBSYSTEM=matrix"
	assert_line "DRIVER=vfio_ap"
	assert_line "ACTION=change"
	assert_line "DEVPATH=/devices/vfio_ap/matrix/$U1"
	assert_line "SUBSYSTEM=mdev"
	assert_line "DRIVER=vfio_ap_mdev"
	assert_line "ACTION=add"
}

@test "mdevctl: types, define, start, list, stop, unchanged, as its manual documents for vfio-ap" {
	command -v mdevctl >/dev/null || skip "mdevctl missing"
	u=783e6dbb-ea0e-411f-94e2-717eaad438bf
	[ ! -e "/etc/mdevctl.d/matrix/$u" ] || skip "a real mdevctl definition with the test UUID exists"
	run ws "$HOSTS/seed.yaml" "
		mdevctl types
		echo -- define
		mdevctl define -u $u -p matrix -t vfio_ap-passthrough
		mdevctl modify -u $u --addattr=assign_adapter --value=5
		mdevctl modify -u $u --addattr=assign_adapter --value=6
		mdevctl modify -u $u --addattr=assign_domain --value=0xab
		mdevctl modify -u $u --addattr=assign_control_domain --value=0xab
		mdevctl modify -u $u --addattr=assign_domain --value=4
		mdevctl modify -u $u --addattr=assign_control_domain --value=4
		mdevctl list -d
		echo -- start while the host owns the queues
		mdevctl start -u $u && exit 1
		ls /sys/bus/mdev/devices
		echo -- start
		echo -5,-6 >/sys/bus/ap/apmask
		echo -4,-0xab >/sys/bus/ap/aqmask
		echo 0 >/sys/.sim/writes
		mdevctl start -u $u
		mdevctl list
		cat /sys/.sim/writes
		sed -n '/^mdev /,\$p' /sys/.sim/dump
		echo -- stop
		mdevctl stop -u $u
		mdevctl list
		mdevctl list -d
		tail -n1 /sys/.sim/writes"
	assert_success
	m=devices/vfio_ap/matrix/$u
	assert_output "matrix
  vfio_ap-passthrough
    Available instances: 65536
    Device API: vfio-ap
    Name: VFIO AP Passthrough Device

-- define
$u matrix vfio_ap-passthrough manual

-- start while the host owns the queues
Error: Failed to write 0xab to attribute assign_domain

Caused by:
    Cannot assign requested address (os error 99)
-- start
$u matrix vfio_ap-passthrough manual (defined)

$TYPE/create	$u	0
$m/assign_adapter	5	0
$m/assign_adapter	6	0
$m/assign_domain	0xab	0
$m/assign_control_domain	0xab	0
$m/assign_domain	4	0
$m/assign_control_domain	4	0
mdev $u detached
  adapters 0x05,0x06
  domains 0x0004,0x00ab
  control_domains 0x0004,0x00ab
  matrix 05.0004 05.00ab 06.0004 06.00ab
  guest_matrix 05.0004 05.00ab 06.0004 06.00ab
  guest_control_domains 0x0004,0x00ab
-- stop

$u matrix vfio_ap-passthrough manual

$m/remove	1	0"
	# the definition lived in the private /etc only
	[ ! -e "/etc/mdevctl.d/matrix/$u" ]
}

# ---- with-sim ---------------------------------------------------------------

# A probe COMMAND for with-sim: prints its pid, the private tmpfs with-sim
# made, the simulator's pid and the mount on /sys, then execs "$@".
probe() {
	PROBE=$BATS_TEST_TMPDIR/probe
	# a topology path of our own, so the simulator's pid can be told apart
	PTOPO=$(mktemp "$BATS_TEST_TMPDIR/host.XXXXXX.yaml")
	cp "$HOSTS/seed.yaml" "$PTOPO"
	cat >"$PROBE" <<-EOF
	echo "cmd \$\$"
	echo "tmp \$(findmnt -n -o TARGET -S with-sim)"
	echo "sim \$(pgrep -f -- "-f $PTOPO /sys")"
	echo "sys \$(findmnt -n -o FSTYPE --target /sys/bus/ap | tail -n1)"
	echo ready
	exec "\$@"
	EOF
}

# gone OUTFILE: the command, the simulator and the temporary directory that
# the probe reported are all gone
gone() {
	local cmd tmp sim
	cmd=$(sed -n 's/^cmd //p' "$1")
	tmp=$(sed -n 's/^tmp //p' "$1")
	sim=$(sed -n 's/^sim //p' "$1")
	[ -n "$cmd" ] && [ -n "$sim" ] && [ -n "$tmp" ] || fail "probe output incomplete: $(cat "$1")"
	[[ $tmp == /tmp/with-sim.* ]] || fail "unexpected temp dir $tmp"
	[ ! -e "/proc/$cmd" ] || fail "command $cmd still running"
	[ ! -e "/proc/$sim" ] || fail "simulator $sim still running"
	[ ! -e "$tmp" ] || fail "$tmp left behind"
}

# real_state: what the host's own /sys, /etc and /run look like to us
real_state() {
	readlink /proc/self/ns/mnt
	findmnt -n -o FSTYPE /sys
	ls -a /sys
	ls /sys/bus
	for f in /etc/apmatrix.yaml /etc/apmatrix.d /etc/mdevctl.d /run/apmatrix; do
		if [ -e "$f" ]; then echo "$f $(find "$f" -type f -exec md5sum {} + | sort)"; else echo "$f absent"; fi
	done
}

@test "with-sim: the exit status is the command's; all is gone after normal exit and failure" {
	probe
	run "$WITH_SIM" "$PTOPO" -- bash "$PROBE" true
	assert_success
	assert_line "sys fuse.apmatrix-sim"
	printf '%s\n' "$output" >"$BATS_TEST_TMPDIR/out"
	gone "$BATS_TEST_TMPDIR/out"
	for rc in 1 3 42 255; do
		run "$WITH_SIM" "$PTOPO" -- bash "$PROBE" bash -c "exit $rc"
		assert_failure $rc
		printf '%s\n' "$output" >"$BATS_TEST_TMPDIR/out"
		gone "$BATS_TEST_TMPDIR/out"
	done
	run -127 "$WITH_SIM" "$PTOPO" -- no-such-command-here
	assert_failure 127
	# its own errors: usage, unreadable topology, broken topology
	run "$WITH_SIM" "$PTOPO" true
	assert_failure 64
	run "$WITH_SIM" /nonexistent.yaml -- true
	assert_failure 66
	printf 'kernel: 9.99x\n' >"$BATS_TEST_TMPDIR/bad.yaml"
	run "$WITH_SIM" "$BATS_TEST_TMPDIR/bad.yaml" -- true
	assert_failure 1
	assert_output --partial "unknown kernel profile"
}

# sig_run SIGNAL TARGET: start with-sim in its own process group (job
# control) with a long sleep, wait for the probe, send SIGNAL to TARGET
# ("group" like a terminal's Ctrl-C, or "pid": with-sim alone), and leave
# with-sim's exit status in $rc and the probe's output in $BATS_TEST_TMPDIR/out
sig_run() {
	local out=$BATS_TEST_TMPDIR/out pid
	: >"$out"
	set -m
	"$WITH_SIM" "$PTOPO" -- bash "$PROBE" sleep 60 >"$out" 2>&1 &
	pid=$!
	set +m
	for _ in $(seq 500); do grep -q '^ready' "$out" && break; sleep 0.02; done
	grep -q '^ready' "$out" || fail "with-sim did not start: $(cat "$out")"
	if [ "$2" = group ]; then kill -"$1" -- -"$pid"; else kill -"$1" "$pid"; fi
	rc=0
	wait "$pid" || rc=$?
}

@test "with-sim: Ctrl-C (SIGINT to the process group) ends it at once and cleans up" {
	probe
	start=$SECONDS
	sig_run INT group
	[ "$rc" = 130 ] || fail "exit status $rc"
	[ $((SECONDS - start)) -lt 30 ] || fail "took $((SECONDS - start)) s: the sleep was not interrupted"
	gone "$BATS_TEST_TMPDIR/out"
}

@test "with-sim: SIGTERM to with-sim alone or to its group ends the command and cleans up" {
	probe
	for target in pid group; do
		start=$SECONDS
		sig_run TERM $target
		[ "$rc" = 143 ] || fail "TERM to $target: exit status $rc"
		[ $((SECONDS - start)) -lt 30 ] || fail "TERM to $target: took $((SECONDS - start)) s"
		gone "$BATS_TEST_TMPDIR/out"
	done
	sig_run HUP pid
	[ "$rc" = 129 ] || fail "HUP: exit status $rc"
	gone "$BATS_TEST_TMPDIR/out"
}

@test "with-sim: /etc and /run are private, the real /sys is untouched" {
	before=$(real_state)
	export OUTER_NS=$(readlink /proc/self/ns/mnt)
	run ws "$HOSTS/seed.yaml" '
		echo "guests: {}" >/etc/apmatrix.yaml
		mkdir -p /etc/apmatrix.d /etc/mdevctl.d/matrix /run/apmatrix
		echo x >/etc/apmatrix.d/extra.yaml
		echo y >/etc/mdevctl.d/matrix/11111111-2222-3333-4444-555555555555
		echo z >/run/apmatrix/state
		echo -0x05 >/sys/bus/ap/apmask
		cat /etc/apmatrix.yaml /etc/apmatrix.d/extra.yaml /run/apmatrix/state /sys/bus/ap/apmask
		findmnt -n -o FSTYPE /sys
		[ "$(readlink /proc/self/ns/mnt)" != "$OUTER_NS" ]'
	assert_success
	assert_output "guests: {}
x
z
0xfbffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff
sysfs
fuse.apmatrix-sim"
	after=$(real_state)
	[ "$before" = "$after" ] || fail "host state changed: $(diff <(echo "$before") <(echo "$after"))"
	[ ! -e /sys/.sim ]
}

# ---- the seed's manual procedure, replayed ----------------------------------

# replay NAME TOPOLOGY: run golden/NAME.sh inside with-sim; every kernel write
# of it must succeed, one logged write per echo, and the dump must equal
# golden/NAME.dump
replay() {
	local script=$GOLDEN/$1.sh writes
	writes=$(grep -c '^echo .*> [^/]\|^echo .*> /sys/[^.]' "$script")
	run "$WITH_SIM" "$2" -- bash -euc '
		echo 0 >/sys/.sim/writes
		(source "$1")
		cut -f3 /sys/.sim/writes | sort | uniq -c | sed "s/^ *//"
		echo --
		cat /sys/.sim/dump' _ "$script"
	assert_success
	assert_output "$writes 0
--
$(cat "$GOLDEN/$1.dump")"
}

@test "golden: the 2017 RFC's two-guest example on the rfc2017 profile" {
	replay rfc2017 "$HOSTS/rfc2017.yaml"
	# the RFC's own read-back files agree with the dump
	run ws "$HOSTS/rfc2017.yaml" "
		(source $GOLDEN/rfc2017.sh)
		cd /sys/bus/mdev/drivers/vfio_mdev/$U1
		cat adapters domains control_domains
		echo --
		cat /sys/devices/ap_matrix/matrix/mdev_supported_types/ap_matrix-passthrough/devices/$U2/domains
		ls /sys/bus/ap/drivers/vfio_ap_matrix | grep '^0'"
	assert_success
	assert_output $'05\n06\n0004\n00ab\n--\n0047\n00ff\n05.0004\n05.0047\n05.00ab\n05.00ff\n06.0004\n06.00ab'
}

@test "golden: the same two guests on mainline 6.12 with apmask/aqmask" {
	replay seed-mainline "$HOSTS/seed.yaml"
	run ws "$HOSTS/seed.yaml" "
		(source $GOLDEN/seed-mainline.sh)
		cd /sys/devices/vfio_ap/matrix/$U1
		cat matrix control_domains guest_matrix ap_config
		cat /sys/devices/ap/card06/06.0047/status /sys/devices/ap/card05/05.00ff/status"
	assert_success
	assert_output "05.0004
05.00ab
06.0004
06.00ab
0004
00ab
05.0004
05.00ab
06.0004
06.00ab
0x0600000000000000000000000000000000000000000000000000000000000000,0x0800000000000000000000000000000000000000001000000000000000000000,0x0800000000000000000000000000000000000000001000000000000000000000
unassigned
in use"
}

# ---- 64 cards x 85 domains --------------------------------------------------

# count RANGE: how many ids "0xAA-0xBB", "0xAA" or "[a, b, c]" names
count() {
	local v=${1//\"/}
	if [[ $v == \[*\] ]]; then
		v=${v#[}; v=${v%]}
		IFS=, read -ra ids <<<"$v"
		echo ${#ids[@]}
	elif [[ $v =~ ^(0x[0-9a-fA-F]+|[0-9]+)-(0x[0-9a-fA-F]+|[0-9]+)$ ]]; then
		echo $((BASH_REMATCH[2] - BASH_REMATCH[1] + 1))
	else
		echo 1
	fi
}

@test "64 x 85: mounts, and find /sys -type f counts what the topology defines" {
	t=$HOSTS/large-64x85.yaml
	# Files per object, from kernel-abi.md §1/§2.2/§2.3 for a 6.12 host with
	# every card on cex4card and every queue on cex4queue (masks all ones).
	card=(uevent hwtype raw_hwtype depth ap_functions request_count requestq_count pendingq_count modalias
		config chkstop max_msg_size type online load)
	card_cca=(serialnr)
	card_ep11=(serialnr API_ordinalnr FW_version op_modes)
	queue=(uevent request_count requestq_count pendingq_count reset interrupt config chkstop ap_functions
		online load)
	queue_cca=(mkvps)
	queue_ep11=(mkvps op_modes)
	# the rest: bus/ap (18 attributes, 3 drivers x bind/unbind/uevent),
	# devices/ap/uevent, the vfio_ap part (devices/vfio_ap/uevent, matrix
	# uevent + features, 4 type files, bus/matrix 3 + driver uevent, bus/mdev 3
	# + driver bind/unbind/uevent), kernel/uevent_seqnum and the 9 control files
	fixed=$((18 + 3 * 3 + 1 + 1 + 2 + 4 + 3 + 1 + 3 + 3 + 1 + 9))

	expect=$fixed cards=0 queues=0
	while IFS= read -r line; do
		[[ $line =~ id:\ *([^,]+),.*mode:\ *([a-z0-9]+),.*domains:\ *(.+)\}$ ]] || continue
		n=$(count "${BASH_REMATCH[1]}")
		mode=${BASH_REMATCH[2]}
		d=$(count "${BASH_REMATCH[3]}")
		per_card=${#card[@]} per_queue=${#queue[@]}
		case $mode in
		cca) per_card=$((per_card + ${#card_cca[@]})) per_queue=$((per_queue + ${#queue_cca[@]})) ;;
		ep11) per_card=$((per_card + ${#card_ep11[@]})) per_queue=$((per_queue + ${#queue_ep11[@]})) ;;
		esac
		cards=$((cards + n)) queues=$((queues + n * d))
		expect=$((expect + n * (per_card + d * per_queue)))
	done <"$t"
	[ "$cards" = 64 ] && [ "$queues" = $((64 * 85)) ] || fail "parsed $cards cards, $queues queues"

	run ws "$t" '
		find /sys -type f | wc -l
		for c in card00 card20 card30; do
			echo "$c $(cat /sys/devices/ap/$c/type):"
			find /sys/devices/ap/$c -maxdepth 1 -type f -printf "%f\n" | LC_ALL=C sort | tr "\n" " "; echo
			find /sys/devices/ap/$c/${c#card}.0054 -maxdepth 1 -type f -printf "%f\n" | LC_ALL=C sort | tr "\n" " "; echo
		done
		cat /sys/bus/ap/bindings'
	assert_success
	lst() { printf '%s\n' "$@" | LC_ALL=C sort | tr '\n' ' '; }
	assert_output "$expect
card00 CEX7C:
$(lst "${card[@]}" "${card_cca[@]}")
$(lst "${queue[@]}" "${queue_cca[@]}")
card20 CEX7A:
$(lst "${card[@]}")
$(lst "${queue[@]}")
card30 CEX8P:
$(lst "${card[@]}" "${card_ep11[@]}")
$(lst "${queue[@]}" "${queue_ep11[@]}")
5440/5440 (complete)"
}
