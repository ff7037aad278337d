#!/usr/bin/env bats
# live.c and sysfs.c on the simulator: what `apmatrix status` reads from the
# simulated /sys must match the topology (profile, maxima, mdevs made by
# hand), and the AP devices apmatrix lists (directly from sysfs) must be the
# ones libudev enumerates (udevadm).

setup() {
	APMATRIX_TOP=${APMATRIX_TOP:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)}
	cd "$APMATRIX_TOP" || exit 1
	APMATRIX="${APMATRIX_BIN:-$APMATRIX_TOP/build}/apmatrix"
	WITH_SIM="$APMATRIX_TOP/tests/lib/with-sim"
	CONFIG="$APMATRIX_TOP/examples/seed-two-guests.yaml"
	# the simulator with-sim runs, chosen as tests/bats/helpers.bash chooses it:
	# APMATRIX_SIM, else the one built with APMATRIX_BIN's apmatrix, else
	# build/apmatrix-sim (with-sim's default)
	if [ -z "${APMATRIX_SIM:-}" ] && [ -x "${APMATRIX_BIN:-$APMATRIX_TOP/build}/apmatrix-sim" ]; then
		export APMATRIX_SIM=${APMATRIX_BIN:-$APMATRIX_TOP/build}/apmatrix-sim
	fi
	[ -x "$WITH_SIM" ] && [ -x "${APMATRIX_SIM:-$APMATRIX_TOP/build/apmatrix-sim}" ] || skip "simulator not built"
	command -v jq >/dev/null || skip "jq not installed"
}

# sim TOPOLOGY SCRIPT: run a bash script on the simulated host
sim() {
	local topo=$1
	shift
	run "$WITH_SIM" "examples/hosts/$topo.yaml" -- env APMATRIX="$APMATRIX" CONFIG="$CONFIG" bash -c "$1"
	[ "$status" -ne 77 ] || skip "simulator needs root"
}

@test "live: seed host (6.12) is read as dynamic with its maxima" {
	sim seed '"$APMATRIX" -c "$CONFIG" --json status'
	echo "$output"
	[ "$(jq -r .host.profile <<<"$output")" = dynamic ]
	[ "$(jq -r .host.vfio_loaded <<<"$output")" = true ]
	[ "$(jq -r .host.max_adapter <<<"$output")" = 63 ]
	[ "$(jq -r .host.max_domain <<<"$output")" = 255 ]
	[ "$(jq -r '.guests[0].state' <<<"$output")" = absent ]
	[ "$(jq -r '.undeclared_mdevs | length' <<<"$output")" = 0 ]
}

@test "live: static 5.15 host without vfio_ap (and without any mdev: static or dynamic cannot be told)" {
	sim static-5.15 '"$APMATRIX" -c "$CONFIG" --json status'
	echo "$output"
	[ "$(jq -r .host.profile <<<"$output")" = mainline ]
	[ "$(jq -r .host.vfio_loaded <<<"$output")" = false ]
	[ "$(jq -r .host.max_domain <<<"$output")" = 84 ]
}

@test "live: rfc2017 host" {
	sim rfc2017 '"$APMATRIX" -c "$CONFIG" --json status'
	echo "$output"
	[ "$(jq -r .host.profile <<<"$output")" = rfc2017 ]
	[ "$(jq -r .host.vfio_loaded <<<"$output")" = true ]
}

@test "live: an mdev made by hand is read back, not owned" {
	sim seed '
		set -e
		u=0b1a7c1e-0000-4000-8000-000000000001
		m=/sys/devices/vfio_ap/matrix
		echo -0x47 > /sys/bus/ap/aqmask
		echo $u > $m/mdev_supported_types/vfio_ap-passthrough/create
		echo 0x05 > $m/$u/assign_adapter
		echo 0x47 > $m/$u/assign_domain
		echo 0x47 > $m/$u/assign_control_domain
		"$APMATRIX" -c "$CONFIG" --json status'
	echo "$output"
	[ "$(jq -r '.undeclared_mdevs | length' <<<"$output")" = 1 ]
	[ "$(jq -r '.undeclared_mdevs[0].uuid' <<<"$output")" = 0b1a7c1e-0000-4000-8000-000000000001 ]
	[ "$(jq -r '.undeclared_mdevs[0].owned' <<<"$output")" = false ]
	[ "$(jq -r '.undeclared_mdevs[0].in_use' <<<"$output")" = false ]
	[ "$(jq -c '.undeclared_mdevs[0].apqns' <<<"$output")" = '["05.0047"]' ]
}

@test "live: status says of an mdev made by hand that apply never changes or removes it" {
	sim seed '
		set -e
		u=0b1a7c1e-0000-4000-8000-000000000001
		m=/sys/devices/vfio_ap/matrix
		echo -0x47 > /sys/bus/ap/aqmask
		echo $u > $m/mdev_supported_types/vfio_ap-passthrough/create
		echo 0x05 > $m/$u/assign_adapter
		echo 0x47 > $m/$u/assign_domain
		"$APMATRIX" -c "$CONFIG" status'
	echo "$output"
	[ "$status" = 0 ]
	grep -qxF "  0b1a7c1e-0000-4000-8000-000000000001  not managed by apmatrix (apply never changes or removes it)" <<<"$output"
}

@test "live: apmatrix finds the AP cards and queues that libudev enumerates" {
	command -v udevadm >/dev/null || skip "udevadm not installed"
	for topo in seed static-5.15 rfc2017 large-64x85; do
		sim "$topo" '
			set -e
			export SYSTEMD_DEVICE_VERIFY_SYSFS=0
			cards=$(udevadm trigger --dry-run --verbose --subsystem-match=ap --property-match=DEVTYPE=ap_card | wc -l)
			queues=$(udevadm trigger --dry-run --verbose --subsystem-match=ap --property-match=DEVTYPE=ap_queue | wc -l)
			[ "$cards" -gt 0 ] && [ "$queues" -gt 0 ]
			"$APMATRIX" -v -c "$CONFIG" status 2>&1 >/dev/null | grep "host: "
			echo "udev: $cards cards, $queues queues"'
		echo "$output"
		[ "$status" -eq 0 ]
		want=$(sed -n 's/^udev: \([0-9]*\) cards, \([0-9]*\) queues$/\1 cards, \2 queues/p' <<<"$output")
		[ -n "$want" ]
		[[ $output == *"profile, $want, "* ]]
	done
}

@test "live: a running guest marks its mdev in use; the owner db marks it owned" {
	sim seed '
		set -e
		u=0b1a7c1e-0000-4000-8000-000000000001
		m=/sys/devices/vfio_ap/matrix
		echo -0x47 > /sys/bus/ap/aqmask
		echo $u > $m/mdev_supported_types/vfio_ap-passthrough/create
		echo 0x05 > $m/$u/assign_adapter
		echo 0x47 > $m/$u/assign_domain
		echo "attach $u" > /sys/.sim/guest
		mkdir -p /run/apmatrix
		printf "apmatrix-state 1\nmdev %s old-guest\naqmask-taken 0x%s\n" $u \
			0000000000000000010000000000000000000000000000000000000000000000 > /run/apmatrix/state
		"$APMATRIX" -c "$CONFIG" --json status'
	echo "$output"
	[ "$(jq -r '.undeclared_mdevs[0].in_use' <<<"$output")" = true ]
	[ "$(jq -r '.undeclared_mdevs[0].owned' <<<"$output")" = true ]
	[ "$(jq -c '.taken.aqmask' <<<"$output")" = '[71]' ]
}

@test "live: a damaged ownership record is refused, not guessed at" {
	sim seed '
		mkdir -p /run/apmatrix
		printf "apmatrix-state 1\nmdev not-a-uuid g\n" > /run/apmatrix/state
		"$APMATRIX" -c "$CONFIG" status'
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"/run/apmatrix"* ]]
}

@test "live: static 5.15 host after loading vfio_ap, mdev made by hand" {
	sim static-5.15 '
		set -e
		u=0b1a7c1e-0000-4000-8000-000000000001
		m=/sys/devices/vfio_ap/matrix
		echo vfio_ap > /sys/.sim/modprobe
		echo -0x47 > /sys/bus/ap/aqmask
		echo -0x07 > /sys/bus/ap/apmask
		echo $u > $m/mdev_supported_types/vfio_ap-passthrough/create
		echo 0x07 > $m/$u/assign_adapter
		echo 0x47 > $m/$u/assign_domain
		"$APMATRIX" -c "$CONFIG" --json status | jq -c .
		"$APMATRIX" -c "$CONFIG" status || [ $? = 2 ]'
	echo "$output"
	json=$(head -n 1 <<<"$output")
	[ "$(jq -r .host.profile <<<"$json")" = static ]
	[ "$(jq -r .host.vfio_loaded <<<"$json")" = true ]
	[ "$(jq -c '.undeclared_mdevs[0].apqns' <<<"$json")" = '["07.0047"]' ]
	[ "$(jq -c '.unused_vfio_queues' <<<"$json")" = '["05.0047","06.0047","07.0004"]' ]
	# the same three in the text
	grep -A1 -x "queues bound to vfio_ap that no mdev uses (3):" <<<"$output" | grep -qx "  05.0047 06.0047 07.0004"
}

@test "live: rfc2017 mdev read from its adapters/domains files" {
	sim rfc2017 '
		set -e
		u=0b1a7c1e-0000-4000-8000-000000000002
		m=/sys/devices/ap_matrix/matrix
		echo 05.0047 > /sys/bus/ap/drivers/cex4queue/unbind
		echo 05.0047 > /sys/bus/ap/drivers/vfio_ap_matrix/bind
		echo $u > $m/mdev_supported_types/ap_matrix-passthrough/create
		echo 05 > $m/$u/assign_adapter
		echo 47 > $m/$u/assign_domain
		"$APMATRIX" -c "$CONFIG" --json status'
	echo "$output"
	[ "$(jq -r .host.profile <<<"$output")" = rfc2017 ]
	[ "$(jq -c '.undeclared_mdevs[0].apqns' <<<"$output")" = '["05.0047"]' ]
	[ "$(jq -r '.undeclared_mdevs[0].owned' <<<"$output")" = false ]
}

@test "live: without an AP bus, apply, diff, status and import exit 1 with one message; apply creates nothing" {
	# a machine without /sys/bus/ap (not s390, or the ap module not loaded); no simulator needed
	root=$BATS_TEST_TMPDIR/sys rundir=$BATS_TEST_TMPDIR/run
	mkdir -p "$root/devices"
	for cmd in apply diff status import; do
		run env APMATRIX_SYSFS_ROOT="$root" APMATRIX_RUNDIR="$rundir" APMATRIX_S390_LOCK="$rundir/s390.lock" \
			"$APMATRIX" -c "$CONFIG" $cmd
		echo "$cmd: $output"
		[ "$status" -eq 1 ]
		[ "$output" = "apmatrix: no AP bus under $root/bus/ap: this is not an s390 host with crypto adapters" ]
	done
	# nothing was created for the locks: the run directory does not exist
	[ ! -e "$rundir" ]
	# the configuration alone can still be checked
	run env APMATRIX_SYSFS_ROOT="$root" "$APMATRIX" -q -c "$CONFIG" check
	[ "$status" -eq 0 ]
}

@test "with-sim under umask 002: the simulated /etc and /run are 0755, so apmatrix takes the configuration written there" {
	run bash -c "umask 002; \"$WITH_SIM\" examples/hosts/seed.yaml -- env APMATRIX=\"$APMATRIX\" bash -c 'stat -c %a /etc /run; cp examples/seed-two-guests.yaml /etc/apmatrix.yaml; \"\$APMATRIX\" check'"
	[ "$status" -ne 77 ] || skip "simulator needs root"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = 755 ] && [ "${lines[1]}" = 755 ]
	[[ "$output" == *"ok: 2 guests"* ]]
}
