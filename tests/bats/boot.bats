#!/usr/bin/env bats
# Boot and hot plug (DESIGN §7): rules/90-apmatrix.rules run through the real
# `udevadm test` against the events the simulator logs, and a boot simulated
# from those events: each RUN the rules yield starts the unit's commands (the
# harness stands in for systemd and merges start requests as systemd does).
# helpers.bash: TOP, BIN (APMATRIX_BIN), APMATRIX, the simulator with-sim runs
# (APMATRIX_SIM), SANDBOX_APMATRIX; in_sim is this file's own
load helpers

START='/usr/bin/systemctl --no-block start apmatrix-apply.service'

setup() {
	need_root
	[ -x "${APMATRIX_SIM:-$TOP/build/apmatrix-sim}" ] && [ -x "$APMATRIX" ] || skip "not built"
	command -v udevadm >/dev/null || skip "udevadm not installed"
	command -v jq >/dev/null || skip "jq not installed"
}

# need_sandbox: the boot tests run the unit's commands in its sandbox
# (tests/lib/unit-sandbox)
need_sandbox() {
	local why
	[ -x "$SANDBOX_APMATRIX" ] || skip "$SANDBOX_APMATRIX not built"
	why=$("$TOP/tests/lib/unit-sandbox" --check) || skip "$why"
}

# topo NAME [KERNEL]: a seed-like host (default 6.12) with vfio_ap unloaded;
# card 06 only when NAME is "both"
topo() {
	local f="$BATS_TEST_TMPDIR/$1.yaml"
	{
		echo "kernel: ${2:-6.12}"
		echo "vfio_ap: unloaded"
		echo "max_adapter: 0x3f"
		echo "max_domain: 0xff"
		echo "cards:"
		echo "  - {id: 0x05, type: CEX5C, mode: cca, domains: [0x04, 0x47, 0xab, 0xff]}"
		[ "$1" != both ] || echo "  - {id: 0x06, type: CEX5A, mode: accel, domains: [0x04, 0x47, 0xab, 0xff]}"
	} >"$f"
	echo "$f"
}

# in_sim TOPOLOGY: run the bash script on stdin on the simulated host with
# the rules installed (tests/lib/udev-replay) and the seed's two guests as
# /etc/apmatrix.yaml
in_sim() {
	local script="$BATS_TEST_TMPDIR/script.$RANDOM.sh"
	{
		echo "set -u"
		echo "cd '$TOP' || exit 1"
		echo "APMATRIX='$APMATRIX'"
		echo "SANDBOX_APMATRIX='$SANDBOX_APMATRIX'"
		echo "START='$START'"
		cat <<'EOT'
. tests/lib/udev-replay
. tests/lib/jqe.bash
die() { echo "FAIL: $*" >&2; exit 1; }
udev_setup rules/90-apmatrix.rules || die "udev_setup"
cp examples/seed-two-guests.yaml /etc/apmatrix.yaml
# expect_run ACTION DEVPATH VARS...: the rules yield exactly the start
expect_run() {
	local got
	got=$(udev_event "$@") || die "udevadm test failed"
	[ "$got" = "$START" ] || die "$1 $2 ${*:3}: expected the start, got '$got'"
	echo "ok: $1 $2 ${*:3}"
}
expect_none() {
	local got
	got=$(udev_event "$@") || die "udevadm test failed"
	[ -z "$got" ] || die "$1 $2 ${*:3}: expected nothing, got '$got'"
	echo "ok: nothing for $1 $2 ${*:3}"
}
# check_log: replay the simulator's log; every event that yields something
# must yield exactly one start, and the triggering events are printed
check_log() {
	local out
	out=$(udev_replay) || die "replay failed"
	echo "$out"
	awk '/^ -> / && $0 != " -> '"$START"'" { bad = 1 } END { exit bad }' <<<"$out" || die "unexpected RUN"
	awk '/^[0-9]/ { ev = $0 } /^ -> / { n[ev]++ } END { for (e in n) if (n[e] > 1) exit 1 }' <<<"$out" || die "more than one RUN for an event"
}
# triggered: the events of the last check_log output ($out) that yield the start
EOT
		cat
	} >"$script"
	run "$WITH_SIM" "$1" -- bash "$script"
	[ "$status" -ne 77 ] || skip "simulator needs root"
}

# tr_events: from a replay listing on stdin, the events that yield a start
tr_events() {
	awk '/^[0-9]/ { ev = $0 } /^ -> / { print ev }'
}

@test "rules: the events of a boot (queue add, BINDINGS=complete, MDEV_STATE=registered) start the unit, nothing else does" {
	in_sim "$(topo both)" <<-'EOT'
	out=$(check_log) || die "$out"
	echo "$out"
	echo "--- modprobe vfio_ap"
	echo vfio_ap >/sys/.sim/modprobe
	out=$(check_log) || die "$out"
	echo "$out"
	EOT
	echo "$output"
	assert_success
	trig=$(tr_events <<<"$output")
	# every queue add (8), the settled bus, the registered matrix device
	[ "$(grep -c ' add /devices/ap/card0[56]/0[56]\.00.. DEVTYPE=ap_queue' <<<"$trig")" -eq 8 ]
	[ "$(grep -c 'change /devices/ap BINDINGS=complete COMPLETECOUNT=1' <<<"$trig")" -eq 1 ]
	[ "$(grep -c 'change /devices/vfio_ap/matrix MDEV_STATE=registered' <<<"$trig")" -eq 1 ]
	[ "$(wc -l <<<"$trig")" -eq 10 ]
	# and these were in the log but start nothing
	assert_output --partial "change /devices/ap INITSCAN=done"
	! grep -q 'bind\|INITSCAN\|add /devices/ap/card0[56] \|add /devices/vfio_ap/matrix$' <<<"$trig"
}

@test "rules: apmatrix's own writes (mask changes, rebinding, mdev add/bind) start nothing but the settled bus" {
	in_sim "$(topo both)" <<-'EOT'
	echo vfio_ap >/sys/.sim/modprobe
	echo 0 >/sys/.sim/uevents
	"$APMATRIX" apply >/dev/null || die "apply failed"
	out=$(check_log) || die "$out"
	echo "$out"
	EOT
	echo "$output"
	assert_success
	# the log holds the loop-prone events ...
	assert_line --regexp '^[0-9]+ change /devices/ap APMASK=0x'
	assert_line --regexp '^[0-9]+ change /devices/ap AQMASK=0x'
	assert_line --regexp '^[0-9]+ add /devices/vfio_ap/matrix/[0-9a-f-]{36}$'
	assert_line --regexp '^[0-9]+ bind /devices/vfio_ap/matrix/[0-9a-f-]{36} DRIVER=vfio_ap_mdev$'
	assert_line --regexp '^[0-9]+ bind /devices/ap/card05/05.0004 DEVTYPE=ap_queue DRIVER=vfio_ap'
	# ... and only the bindings-complete changes start the unit
	trig=$(tr_events <<<"$output")
	[ -n "$trig" ]
	! grep -v 'change /devices/ap BINDINGS=complete' <<<"$trig"
}

@test "rules: hot plug and unplug of a card, CONFIG= and ONLINE= changes start the unit" {
	in_sim "$(topo one)" <<-'EOT'
	echo vfio_ap >/sys/.sim/modprobe
	echo 0 >/sys/.sim/uevents
	echo "- {id: 0x06, type: CEX5A, mode: accel, domains: [0x04, 0x47, 0xab, 0xff]}" >/sys/.sim/hotplug || die "hotplug"
	out=$(check_log) || die "$out"
	echo "$out"
	echo "--- deconfigure card 05, configure it, set it offline"
	echo 0 >/sys/devices/ap/card05/config && echo 1 >/sys/devices/ap/card05/config && echo 0 >/sys/devices/ap/card05/online || die "config/online"
	out=$(check_log) || die "$out"
	echo "$out"
	echo "--- unplug card 06"
	# udevadm test needs the device in sysfs: the logged remove events of
	# card 06's queues are checked against card 05's queues, same kind
	echo "remove 0x06" >/sys/.sim/hotplug || die "unplug"
	awk -v RS= '/ACTION=remove/ && /DEVTYPE=ap_queue/' /sys/.sim/uevents | grep -c DEVPATH=/devices/ap/card06/06. >/run/n
	[ "$(cat /run/n)" = 4 ] || die "expected 4 queue removes in the log"
	vars=$(awk -v RS= '/ACTION=remove/ && /DEVPATH=\/devices\/ap\/card06\/06.0004\n/' /sys/.sim/uevents | grep -v '^ACTION=\|^DEVPATH=\|^SUBSYSTEM=\|^SEQNUM=')
	expect_run remove /devices/ap/card05/05.0004 $vars
	vars=$(awk -v RS= '/ACTION=remove/ && /DEVPATH=\/devices\/ap\/card06\n/' /sys/.sim/uevents | grep -v '^ACTION=\|^DEVPATH=\|^SUBSYSTEM=\|^SEQNUM=')
	expect_none remove /devices/ap/card05 $vars
	EOT
	echo "$output"
	assert_success
	trig=$(tr_events <<<"$output")
	[ "$(grep -c ' add /devices/ap/card06/06\.00.. DEVTYPE=ap_queue' <<<"$trig")" -eq 4 ]
	# the hot plug re-armed the bindings completion (6.12): the bus settles
	# once more after the last queue binds, and that starts the unit too
	[ "$(grep -c 'change /devices/ap BINDINGS=complete COMPLETECOUNT=2' <<<"$trig")" -eq 1 ]
	[ "$(grep -c 'change /devices/ap BINDINGS=complete' <<<"$trig")" -eq 1 ]
	# CONFIG=0, CONFIG=1, ONLINE=0 on the card and each of its 4 queues
	[ "$(grep -c 'change /devices/ap/card05.* CONFIG=0' <<<"$trig")" -eq 5 ]
	[ "$(grep -c 'change /devices/ap/card05.* CONFIG=1' <<<"$trig")" -eq 5 ]
	# (CONFIG=0 took the card itself offline already: only its queues follow)
	[ "$(grep -c 'change /devices/ap/card05/05.00.. ONLINE=0' <<<"$trig")" -eq 4 ]
	# the card's own add starts nothing (its queues do)
	! grep -q 'add /devices/ap/card06 ' <<<"$trig"
	assert_line "ok: remove /devices/ap/card05/05.0004 DEVTYPE=ap_queue MODE=accel"
	assert_line --partial "ok: nothing for remove /devices/ap/card05 DEVTYPE=ap_card"
}

@test "rules: coldplug add of the bus starts the unit only once the bindings are complete" {
	in_sim "$(topo one)" <<-'EOT'
	# vfio_ap unloaded and card 05 given away by apmask: its queues wait unbound
	echo 0x7b >/sys/bus/ap/apmask 2>/dev/null
	echo -0x05 >/sys/bus/ap/apmask || die "apmask"
	grep -q complete /sys/bus/ap/bindings && die "bindings complete: $(cat /sys/bus/ap/bindings)"
	expect_none add /bus/ap
	expect_none add /devices/ap
	echo vfio_ap >/sys/.sim/modprobe
	grep -q complete /sys/bus/ap/bindings || die "bindings incomplete"
	expect_run add /bus/ap
	expect_run add /devices/ap
	EOT
	echo "$output"
	assert_success
	assert_line "ok: add /bus/ap "
}

@test "rules: no start without /etc/apmatrix.yaml, none for mdevs, the mask events or INITSCAN" {
	in_sim "$(topo one)" <<-'EOT'
	echo vfio_ap >/sys/.sim/modprobe
	"$APMATRIX" apply >/dev/null || die "apply failed"
	m=$(ls -d /sys/devices/vfio_ap/matrix/*-*-*-*-* | head -1)
	expect_none add "${m#/sys}"
	expect_none bind "${m#/sys}" DRIVER=vfio_ap_mdev
	expect_none remove "${m#/sys}"
	expect_none change /devices/ap APMASK=0xfbffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff
	expect_none change /devices/ap AQMASK=0xf7ffffffffffffffffffffffffffffffffffffffffefffffffffffffffffffff
	expect_none change /devices/ap INITSCAN=done
	expect_none change /devices/vfio_ap/matrix MDEV_STATE=unregistered
	expect_none bind /devices/ap/card05/05.0004 DEVTYPE=ap_queue DRIVER=vfio_ap MODE=cca
	expect_none unbind /devices/ap/card05/05.0004 DEVTYPE=ap_queue MODE=cca
	expect_run change /devices/ap BINDINGS=complete COMPLETECOUNT=7
	rm /etc/apmatrix.yaml
	expect_none change /devices/ap BINDINGS=complete COMPLETECOUNT=1
	expect_none add /devices/ap/card05/05.0004 DEVTYPE=ap_queue MODE=cca
	expect_none change /devices/vfio_ap/matrix MDEV_STATE=registered
	EOT
	echo "$output"
	assert_success
}

@test "rules: header comment, early guard, one LABEL at the end, only the systemctl start in RUN, a comment per match" {
	f="$TOP/rules/90-apmatrix.rules"
	head -1 "$f" | grep -q '^# 90-apmatrix.rules: '
	# first rule line is the guard
	first=$(grep -v '^#' "$f" | grep -v '^$' | head -1)
	[[ $first == *'GOTO="apmatrix_end"' ]]
	[ "$(grep -v '^#' "$f" | grep -v '^$' | tail -1)" = 'LABEL="apmatrix_end"' ]
	[ "$(grep -c 'LABEL=' "$f")" -eq 1 ]
	# every RUN is the non-blocking start, never the applier itself
	[ "$(grep -v '^#' "$f" | grep -c 'RUN')" -eq "$(grep -c '^  RUN+="/usr/bin/systemctl --no-block start apmatrix-apply.service"$' "$f")" ]
	! grep -v '^#' "$f" | grep -q 'apmatrix apply\|sbin/apmatrix'
	# a comment right before every matching rule
	awk '/^ACTION/ && prev !~ /^#/ { bad = 1; print "no comment before line " NR } { prev = $0 } END { exit bad }' "$f"
}

# boot TOPOLOGY PRE: the boot simulation.  PRE=1 also runs the unit's
# ExecStartPre (its modprobe goes to the simulator's control file).
boot_script() {
	cat <<'EOT'
unit=units/apmatrix-apply.service
starts=0 requests=0
# The unit's commands, prefixes stripped, on the simulator's paths.
cmds() { sed -n "s/^$1=//p" "$unit" | sed 's/^[-+@:!]*//'; }
run_cmd() {
	local line=$1 rc
	set -- $line
	case "$1" in
	*/modprobe) [ "$PRE" = 1 ] || return 0
		echo "${@: -1}" >/sys/.sim/modprobe ;;
	# the unit's sandbox too (tests/lib/unit-sandbox), with a compiled
	# apmatrix (helpers.bash): under check-valgrind the wrapper's logs could
	# not be written there
	/usr/sbin/apmatrix) shift
		tests/lib/unit-sandbox --vfio /sys/.sim/vfio --vfio-at-start "$vfio_at_start" -- "$SANDBOX_APMATRIX" "$@" ;;
	*) die "unit runs an unknown program: $line" ;;
	esac
}
success() { [ "$1" = 0 ] || grep -q "^SuccessExitStatus=.*\b$1\b" "$unit"; }
# settle: replay the log through the rules; the start requests of one batch
# are one start (systemd merges a start request into the queued or running
# start job of the unit).  A run's own events make the next batch: counted
# as if every one of them arrived after the run ended (the upper bound).
settle() {
	local out n rc extra=${1:-0}
	for _ in 1 2 3 4 5 6 7 8; do
		out=$(udev_replay) || die "replay failed"
		n=$(( $(grep -c '^ -> ' <<<"$out") + extra ))
		extra=0
		[ "$n" -gt 0 ] || return 0
		requests=$((requests + n))
		starts=$((starts + 1))
		echo "start $starts ($n requests)"
		# DeviceAllow=char-vfio is resolved as the unit starts, before ExecStartPre
		[ -d /sys/.sim/vfio ] && vfio_at_start=yes || vfio_at_start=no
		while read -r c; do run_cmd "$c" || die "ExecStartPre failed"; done < <(cmds ExecStartPre)
		rc=0
		while read -r c; do run_cmd "$c" >/run/apply.out 2>&1 || rc=$?; done < <(cmds ExecStart)
		sed 's/^/   /' /run/apply.out
		success "$rc" && echo "   unit: success (exit $rc)" || echo "   unit: failed (exit $rc)"
	done
	die "no quiescence after 8 starts"
}
guests_up() {
	"$APMATRIX" status --json | jqe '[.guests[].state] | length == 2 and all(. == "matches")' >/dev/null
}
echo "--- boot: bus scan, bindings complete; systemd-udev-trigger's coldplug of the bus"
cold=$(udev_event add /bus/ap | grep -c .)
echo "coldplug add /bus/ap: $cold start request(s)"
settle "$cold"
echo "--- modprobe vfio_ap"
echo vfio_ap >/sys/.sim/modprobe
settle
if [ ! -e /sys/devices/ap/card06 ]; then
	echo "--- hot plug card 06"
	echo "- {id: 0x06, type: CEX5A, mode: accel, domains: [0x04, 0x47, 0xab, 0xff]}" >/sys/.sim/hotplug || die "hotplug"
	settle
fi
echo "--- result"
"$APMATRIX" status
guests_up || die "not every guest matches"
"$APMATRIX" diff; rc=$?
[ "$rc" = 0 ] || die "diff exited $rc"
echo "STARTS $starts REQUESTS $requests"
EOT
}

@test "boot: vfio_ap unloaded, bus settles, vfio_ap loaded, card hot plugged: every guest up, few starts (ExecStart only)" {
	need_sandbox
	in_sim "$(topo one)" < <(echo "PRE=0"; boot_script)
	echo "$output"
	assert_success
	starts=$(sed -n 's/^STARTS \([0-9]*\) .*/\1/p' <<<"$output")
	requests=$(sed -n 's/.* REQUESTS \([0-9]*\)$/\1/p' <<<"$output")
	echo "# starts $starts for $requests start requests" >&3
	[ "$starts" -ge 3 ] && [ "$starts" -le 8 ]
	[ "$requests" -gt "$starts" ]
	# the first run had no vfio_ap to create mdevs with: it fails the unit
	assert_line --regexp '^   unit: failed \(exit 1\)$'
	assert_line --regexp 'guest1 +[0-9a-f-]{36} +matches'
	assert_line --regexp 'guest2 +[0-9a-f-]{36} +matches'
}

@test "boot: with the unit's ExecStartPre (modprobe vfio_ap) the first start brings every guest up" {
	need_sandbox
	in_sim "$(topo one)" < <(echo "PRE=1"; boot_script)
	echo "$output"
	assert_success
	starts=$(sed -n 's/^STARTS \([0-9]*\) .*/\1/p' <<<"$output")
	echo "# starts $starts" >&3
	[ "$starts" -le 6 ]
	refute_line --regexp '^   unit: failed'
	# the first start did all the work of the boot
	first=$(awk '/^start 1 /,/^   unit:/' <<<"$output")
	grep -q 'create mdev' <<<"$first"
}

@test "boot: 5.15, vfio loaded only by the unit's ExecStartPre: the first start configures every mdev it creates" {
	need_sandbox
	# The unit's device policy was fixed before ExecStartPre loaded vfio, so
	# /dev/vfio/N cannot be opened during that start.  The mdevs exist only
	# after apply created them (5.15 is told from an mdev: created first,
	# then planned again); none can be held by a guest yet.
	in_sim "$(topo both 5.15)" < <(echo "PRE=1"; boot_script)
	echo "$output"
	assert_success
	first=$(awk '/^start 1 /,/^   unit:/' <<<"$output")
	grep -q 'create mdev' <<<"$first"
	grep -q 'guest2: assign domain 0xff' <<<"$first"
	! grep -q 'pending\|cannot tell' <<<"$first"
	grep -q '^   unit: success (exit 0)$' <<<"$first"
	refute_line --regexp '^   unit: failed'
	refute_line --partial 'cannot tell'
}
