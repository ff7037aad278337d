#!/usr/bin/env bats
# `check` and `show` on a live host (issue 4): over-provisioning, foreign
# mdevs named at the config line, driver_override hosts, the guest's view as
# the kernel will filter it, and the profile as far as it can be told.

load helpers

setup() {
	need_root
}

@test "check on a host: adapters and domains the LPAR lacks are warnings at their entries, exit 0" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
cat > /etc/apmatrix.yaml <<'YAML'
version: 1
guests:
  g1:
    adapters: [0x05, "0x07-0x08"]
    domains: [0x04, 0x05]
    control-domains: [0x10]
YAML
apmatrix check 2>$T/err; rc=$?
cat $T/err
[ "$rc" = 0 ] || die "exit $rc"
apmatrix check --no-live 2>$T/err2 >/dev/null
[ ! -s $T/err2 ] || die "--no-live warned: $(cat $T/err2)"
echo OK
EOF
	assert_success
	assert_line "apmatrix: /etc/apmatrix.yaml:4:22: warning: guest 'g1': adapters 0x07,0x08 are not configured in this LPAR now (assigned all the same: the guest gets them as soon as the LPAR has them)"
	assert_line "apmatrix: /etc/apmatrix.yaml:5:21: warning: guest 'g1': usage domain 0x05 is not configured in this LPAR now (assigned all the same: the guest gets it as soon as the LPAR has it)"
	assert_line "apmatrix: /etc/apmatrix.yaml:6:23: warning: guest 'g1': control domain 0x10 is not configured in this LPAR now (assigned all the same: the guest gets it as soon as the LPAR has it)"
	assert_output --partial OK
}

@test "diff, apply and status warn too of what the LPAR lacks (file:line:column, guest), exit codes as before" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
cat > /etc/apmatrix.yaml <<'YAML'
version: 1
guests:
  g1:
    adapters: [0x05]
    domains: [0x04, 0x05]
YAML
W="guest 'g1': usage domain 0x05 is not configured in this LPAR now (assigned all the same: the guest gets it as soon as the LPAR has it)"
ok() { M=$W jqe '[.diagnostics[] | select(.severity == "warning" and .file == "/etc/apmatrix.yaml" and .line == 5 and .column == 21 and .guest == "g1" and .message == $ENV.M)] | length == 1' "$1" >/dev/null; }
expect_exit 2 apmatrix diff 2>$T/err >/dev/null
grep -qxF "apmatrix: /etc/apmatrix.yaml:5:21: warning: $W" $T/err || die "diff: $(cat $T/err)"
expect_exit 2 apmatrix diff --json >$T/d.json
ok $T/d.json || die "diff --json: $(cat $T/d.json)"
expect_exit 0 apmatrix apply --json >$T/a.json
ok $T/a.json || die "apply --json: $(cat $T/a.json)"
jqe '.changed == true and .failed == 0' $T/a.json >/dev/null || die "apply --json: $(cat $T/a.json)"
expect_exit 0 apmatrix status --json >$T/s.json
ok $T/s.json || die "status --json: $(cat $T/s.json)"
expect_exit 0 apmatrix status 2>$T/serr >/dev/null
grep -qxF "apmatrix: /etc/apmatrix.yaml:5:21: warning: $W" $T/serr || die "status: $(cat $T/serr)"
# converged: the warning again, exit 0, nothing written
clear_writes
expect_exit 0 apmatrix apply 2>$T/err2 >/dev/null
grep -qxF "apmatrix: /etc/apmatrix.yaml:5:21: warning: $W" $T/err2 || die "apply: $(cat $T/err2)"
[ "$(nwrites)" = 0 ] || die "converged apply wrote: $(cat /sys/.sim/writes)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "check on a host: an APQN held by a foreign mdev is an error at the guest's domain entry (exit 65); beyond the maximum too" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
F=11111111-2222-3333-4444-555555555555
echo $F > /sys/devices/vfio_ap/matrix/mdev_supported_types/vfio_ap-passthrough/create
echo -0x06 > /sys/bus/ap/apmask; echo -0x47 > /sys/bus/ap/aqmask
echo 0x06 > $(mdev_dir $F)/assign_adapter; echo 0x47 > $(mdev_dir $F)/assign_domain
cat > /etc/apmatrix.yaml <<'YAML'
version: 1
guests:
  g2:
    adapters: [0x06, 0x40]
    domains: [0xab, 0x47]
YAML
clear_writes
apmatrix check; echo "rc=$?"
[ "$(nwrites)" = 0 ] || die "check wrote"
EOF
	assert_success
	assert_line "apmatrix: /etc/apmatrix.yaml:5:21: guest 'g2': APQN 06.0047 is assigned to mdev 11111111-2222-3333-4444-555555555555 (not managed by apmatrix); remove it (echo 1 > /sys/devices/vfio_ap/matrix/11111111-2222-3333-4444-555555555555/remove) once its guest is stopped, or declare it: uuid: 11111111-2222-3333-4444-555555555555 on the guest that should have the queue"
	assert_line "apmatrix: /etc/apmatrix.yaml:4:22: guest 'g2': adapters 0x40 beyond this host's maximum 0x3f"
	assert_line "rc=65"
}

@test "driver_override host (6.19): masks auto is refused before any write; masks off uses the overrides" {
	topo=$(seed_topo 6.19)
	in_sim "$topo" <<'EOF'
for d in 0004 00ab; do echo vfio_ap > /sys/devices/ap/card05/05.$d/driver_override; done
for d in 0004 00ab; do
	echo 05.$d > /sys/bus/ap/drivers/cex4queue/unbind
	echo 05.$d > /sys/bus/ap/drivers/vfio_ap/bind
done
cat > /etc/apmatrix.yaml <<'YAML'
version: 1
guests:
  g1:
    adapters: [0x05]
    domains: [0x04, 0xab]
YAML
clear_writes
apmatrix apply 2>$T/err; rc=$?
cat $T/err
[ "$rc" = 65 ] || [ "$rc" = 1 ] || die "masks auto: exit $rc"
[ "$(nwrites)" = 0 ] || die "masks auto wrote: $(cat /sys/.sim/writes)"
sed -i 's/^version: 1/version: 1\nhost:\n  masks: off/' /etc/apmatrix.yaml
expect_exit 0 apmatrix apply >/dev/null
[ -z "$(bad_writes)" ] || die "failed writes: $(bad_writes)"
! grep -q mask /sys/.sim/writes || die "mask written: $(cat /sys/.sim/writes)"
u=$(uuid_of g1)
[ "$(cat $(mdev_dir $u)/guest_matrix | tr '\n' ' ')" = "05.0004 05.00ab " ] || die "guest_matrix: $(cat $(mdev_dir $u)/guest_matrix)"
echo OK
EOF
	assert_success
	assert_line --partial "queue 05.0004 has driver_override 'vfio_ap': this host reserves queues per queue"
	assert_output --partial OK
}

@test "driver_override host (6.19), masks off: a queue the host keeps by its override names the writes that hand it over" {
	topo=$(seed_topo 6.19)
	in_sim "$topo" <<'EOF'
echo vfio_ap > /sys/devices/ap/card05/05.0004/driver_override
echo 05.0004 > /sys/bus/ap/drivers/cex4queue/unbind
echo 05.0004 > /sys/bus/ap/drivers/vfio_ap/bind
echo cex4queue > /sys/devices/ap/card05/05.00ab/driver_override
printf 'version: 1\nhost:\n  masks: off\nguests:\n  g1: {adapters: [5], domains: [4, 0xab]}\n' > /etc/apmatrix.yaml
clear_writes
apmatrix apply 2>$T/err; echo "rc=$?"
cat $T/err
[ "$(nwrites)" = 0 ] || die "wrote: $(cat /sys/.sim/writes)"
# what the message says, done literally, makes the next apply succeed
cmd=$(sed -n 's/.*hand it to vfio_ap (\(.*\))$/\1/p' $T/err)
[ -n "$cmd" ] || die "no command in: $(cat $T/err)"
eval "$cmd"
expect_exit 0 apmatrix apply >/dev/null
u=$(uuid_of g1)
[ "$(cat $(mdev_dir $u)/guest_matrix | tr '\n' ' ')" = "05.0004 05.00ab " ] || die "guest_matrix: $(cat $(mdev_dir $u)/guest_matrix)"
echo OK
EOF
	assert_success
	assert_line "rc=1"
	assert_line "apmatrix: /etc/apmatrix.yaml:5:36: guest 'g1': APQN 05.00ab has driver_override 'cex4queue' and host.masks is off: hand it to vfio_ap (echo vfio_ap > /sys/bus/ap/devices/05.00ab/driver_override; echo 05.00ab > /sys/bus/ap/drivers/cex4queue/unbind; echo 05.00ab > /sys/bus/ap/drivers_probe)"
	assert_output --partial OK
}

@test "show draws a queue a guest's mdev still has, no longer declared, as that guest's with '-'; status and show GUEST say what a matching guest does not see (a card taken out of the LPAR)" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
apmatrix apply >/dev/null || die bring-up
g1=$(uuid_of guest1)
echo "attach $g1" > /sys/.sim/guest
sed -i 's/domains: \[0x04, 0xab\]/domains: [0x04]/' /etc/apmatrix.yaml
apmatrix show > $T/show || die "show: exit $?"
grep -E '^    0[56] \|' $T/show
grep -qF '  -   (after a guest) still in that guest'"'"'s mdev, no longer declared: apply takes it out' $T/show || die "legend: $(cat $T/show)"
echo "detach $g1" > /sys/.sim/guest
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
echo 'remove 0x05' > /sys/.sim/hotplug
apmatrix status > $T/status || die "status: exit $?"
grep '^guest' $T/status
apmatrix show guest1 > $T/sg || die "show guest1: exit $?"
grep 'not visible' $T/sg
EOF
	assert_success
	assert_line "  assigned but not visible: adapter 0x05 (not in this LPAR)"
	assert_line "    05 |  A   B   A-  B"
	assert_line "    06 |  A   h   A-  h"
	assert_line --regexp "^guest1 +a4d8e314-29c2-57af-90ec-3bcb0bc33855  matches; not in the guest's view: adapter 0x05 \(not in this LPAR\)$"
	assert_line --regexp "^guest2 +777a2a03-2a5a-5868-8709-08e19ebdd5d7  matches; not in the guest's view: adapter 0x05 \(not in this LPAR\)$"
}

@test "status before 6.0 (no guest_matrix): a card hot-unplugged from under a running guest's mdev is named, and no longer once it is back" {
	in_sim "$(seed_topo 5.15)" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
apmatrix apply >/dev/null || die bring-up
g1=$(uuid_of guest1)
echo "attach $g1" > /sys/.sim/guest
echo 'remove 0x06' > /sys/.sim/hotplug
apmatrix status > $T/status || die "status: exit $?"
grep '^guest' $T/status
echo '{id: 0x06, type: CEX5A, mode: accel, domains: [0x04, 0x47, 0xab, 0xff]}' > /sys/.sim/hotplug
apmatrix status > $T/status || die "status: exit $?"
grep '^guest' $T/status | sed 's/^/back: /'
EOF
	assert_success
	assert_line --regexp "^guest1 +a4d8e314-29c2-57af-90ec-3bcb0bc33855  matches, running; adapter 0x06: no queues on this host \(card removed\?\)$"
	assert_line --regexp "^guest2 +777a2a03-2a5a-5868-8709-08e19ebdd5d7  matches$"
	assert_line --regexp "^back: guest1 +a4d8e314-29c2-57af-90ec-3bcb0bc33855  matches, running$"
}

@test "status with host.masks: off says that the mask bits apmatrix took stay taken, and how to give them back" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
apmatrix apply >/dev/null || die bring-up
apmatrix status > $T/auto || die "status: exit $?"
grep -q 'host.masks is off' $T/auto && die "auto: $(cat $T/auto)"
printf 'host:\n  masks: off\n' >> /etc/apmatrix.yaml
apmatrix status > $T/status || die "status: exit $?"
grep -A3 '^mask bits taken from the host by apmatrix' $T/status
EOF
	assert_success
	assert_line "mask bits taken from the host by apmatrix:"
	assert_line "  (kept while host.masks is off; with host.masks: auto, apply gives back those no mdev uses)"
}

@test "show GUEST on a host: the view the kernel's filter will give, then guest_matrix, with the sysfs path" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
cat > /etc/apmatrix.yaml <<'YAML'
version: 1
guests:
  g1:
    adapters: [0x05, 0x07]
    domains: [0x04, 0x05]
YAML
apmatrix show g1 > $T/before
apmatrix apply -q || die "apply failed"
apmatrix show g1 > $T/after
u=$(uuid_of g1)
echo "--- before"; cat $T/before; echo "--- after"; cat $T/after
# what show predicted is what the kernel made of it
pred=$(grep -oE '^  [0-9a-f]{2}\.[0-9a-f]{4} ' $T/before | tr -d ' ' | tr '\n' ' ')
[ "$pred" = "$(cat $(mdev_dir $u)/guest_matrix | tr '\n' ' ')" ] || die "predicted '$pred', kernel $(cat $(mdev_dir $u)/guest_matrix)"
grep -q "^  mdev             /sys/devices/vfio_ap/matrix/$u\$" $T/after || die "path"
# once assigned, as status says it: what the LPAR lacks, not "filtered out"
grep -qxF "  assigned but not visible: adapter 0x07 (not in this LPAR); domain 0x05 (not in this LPAR)" $T/after ||
	die "after: $(grep visible $T/after)"
EOF
	assert_success
	assert_line "  what the guest will see after apply:"
	assert_line "  assigned but not visible: adapter 0x07 (not in this LPAR); domain 0x05 (not in this LPAR)"
	assert_line "  what the guest sees (guest_matrix):"
	assert_line "  05.0004      CEX5C  CCA-Coproc"
	refute_line --partial "05.0005 "
}

@test "show GUEST on a host: a running guest's change is what it will see after apply --force, which plain apply leaves pending" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
apmatrix apply -q || die "apply failed"
sed -i 's/domains: \[0x04, 0xab\]/domains: [0x04]/' /etc/apmatrix.yaml
# not running: apply makes it
apmatrix show guest1 > $T/idle
grep -qxF "  what the guest will see after apply:" $T/idle || die "idle: $(cat $T/idle)"
grep -q "apply without --force" $T/idle && die "idle: $(cat $T/idle)"
echo "attach $(uuid_of guest1)" > /sys/.sim/guest
apmatrix show guest1 > $T/running
echo "--- running"; cat $T/running
# what apply does: without --force the change waits, with it the guest sees that view
expect_exit 2 apmatrix apply -q 2>/dev/null
apmatrix show guest1 > $T/still
cmp -s $T/running $T/still || die "plain apply changed the view: $(cat $T/still)"
apmatrix apply -q --force || die "apply --force failed"
apmatrix show guest1 > $T/forced
grep -qxF "  what the guest sees (guest_matrix):" $T/forced || die "forced: $(cat $T/forced)"
[ "$(grep -oE '^  [0-9a-f]{2}\.[0-9a-f]{4} ' $T/running)" = "$(grep -oE '^  [0-9a-f]{2}\.[0-9a-f]{4} ' $T/forced)" ] ||
	die "predicted $(cat $T/running), got $(cat $T/forced)"
EOF
	assert_success
	assert_line "  what the guest will see after apply --force:"
	assert_line "  (the guest is running: apply without --force leaves this change pending)"
	refute_line "  what the guest will see after apply:"
}

@test "show on a host: the legend of a running guest's pending queues says apply --force (6.0+) or once it stops (static), plain apply otherwise" {
	need_root
	local -A want=(
		[6.12]="  *   declared, not yet in effect (run apmatrix apply --force; the guest is running)"
		[5.15]="  *   declared, not yet in effect (the guest is running: run apmatrix apply once it stops)"
	)
	for kernel in 6.12 5.15; do
		in_sim "$(seed_topo $kernel)" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
apmatrix apply -q || die "apply failed"
sed -i 's/adapters: \[0x05\]/adapters: [0x05, 0x06]/' /etc/apmatrix.yaml
apmatrix show > $T/idle
grep -qxF "  *   declared, not yet in effect (run apmatrix apply)" $T/idle || die "idle: $(cat $T/idle)"
echo "attach $(uuid_of guest2)" > /sys/.sim/guest
apmatrix show > $T/running
grep -q "not yet in effect (run apmatrix apply)" $T/running && die "running: $(cat $T/running)"
grep '^  \*   ' $T/running
# what the legend says is what apply does
expect_exit 2 apmatrix apply -q 2>/dev/null
apmatrix show | cmp -s - $T/running || die "plain apply changed the grid: $(apmatrix show)"
if grep -q -- --force $T/running; then
	apmatrix apply -q --force || die "apply --force failed"
	apmatrix show | grep -F '  *   ' && die "--force left it pending: $(apmatrix show)"
fi
echo OK
EOF
		assert_success
		assert_line "${want[$kernel]}" # the running grid's '*' line
		assert_output --partial OK
	done
}

@test "show on a host: apmatrix's own mdev of a dropped guest is 'u', not foreign; a foreign mdev's APQN that a guest wants is a conflict" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
apmatrix apply >/dev/null || die "apply"
F=7d1c0000-0000-4000-8000-000000000001
echo -0x06 > /sys/bus/ap/apmask
echo $F > /sys/devices/vfio_ap/matrix/mdev_supported_types/vfio_ap-passthrough/create
echo 0x06 > $(mdev_dir $F)/assign_adapter
echo 0x47 > $(mdev_dir $F)/assign_domain
echo "attach $(uuid_of guest1)" > /sys/.sim/guest
# guest1 dropped while it runs; guest3 wants 06.0004 (guest1's) and 06.0047 (the foreign mdev's)
cat > /etc/apmatrix.yaml <<'Y'
version: 1
guests:
  guest2:
    adapters: [0x05]
    domains: [0x47, 0xff]
  guest3:
    adapters: [0x06]
    domains: [0x04, 0x47]
Y
apmatrix --color never show > $T/show || die "show"
sed -n '1,14p' $T/show
EOF
	assert_success
	assert_line "    05 |  u   A   u   A"
	assert_line "    06 |  Bx  !x  u   v" # guest3 left out: the foreign mdev holds 06.0047
	assert_line "  u   in an mdev apmatrix created for a guest no longer declared (apply removes it,"
	assert_line "  !   conflict: claimed twice, held by an mdev apmatrix does not manage, or kept by the"
}

@test "status: a mainline host whose profile cannot be told yet says so instead of guessing" {
	topo="$BATS_TEST_TMPDIR/unloaded.yaml"
	sed 's/^vfio_ap: loaded/vfio_ap: unloaded/; s/^kernel: 6.12/kernel: 6.8/' "$HOSTS/seed.yaml" >"$topo"
	in_sim "$topo" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
apmatrix status
echo vfio_ap > /sys/.sim/modprobe
apmatrix status | head -1
apmatrix apply -q; echo "rc=$?"
apmatrix status | head -1
EOF
	assert_success
	assert_line "host: mainline kernel interface (static or dynamic: no mdev yet to tell), vfio_ap not loaded, max adapter 0x3f, max domain 0xff"
	assert_line "host: mainline kernel interface (static or dynamic: no mdev yet to tell), vfio_ap loaded, max adapter 0x3f, max domain 0xff"
	assert_line "rc=0"
	assert_line "host: dynamic kernel interface, vfio_ap loaded, max adapter 0x3f, max domain 0xff"
}

@test "an mdev apmatrix made, then defined in mdevctl and dropped from the configuration, is handed over: not removed, no longer apmatrix's" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
U=aaaaaaaa-1111-4111-8111-111111111111
printf 'version: 1\nguests:\n  web1:\n    uuid: %s\n    adapters: [0x05]\n    domains: [0x47]\n' $U > /etc/apmatrix.yaml
apmatrix apply -q || die "bring-up"
grep -q "^mdev $U web1" /run/apmatrix/state || die "not recorded: $(cat /run/apmatrix/state)"
# the admin hands it to mdevctl (mdevctl define, as virsh nodedev-define does), then drops the guest
mkdir -p /etc/mdevctl.d/matrix
echo '{"mdev_type":"vfio_ap-passthrough","start":"auto","attrs":[{"assign_adapter":"5"},{"assign_domain":"71"},{"assign_control_domain":"71"}]}' > /etc/mdevctl.d/matrix/$U
printf 'version: 1\nguests: {}\n' > /etc/apmatrix.yaml
note="apmatrix: note: mdev $U, which apmatrix made for guest 'web1', is no longer declared and mdevctl defines it (/etc/mdevctl.d/matrix/$U): apmatrix leaves it to mdevctl"
apmatrix diff > $T/out 2> $T/err || die "diff: exit $?: $(cat $T/out)"
grep -qxF "$note" $T/err || die "diff: $(cat $T/err)"
[ "$(cat $T/out)" = "0 changes" ] || die "diff: $(cat $T/out)"
clear_writes
apmatrix apply > $T/out 2> $T/err || die "apply: exit $?"
grep -qxF "$note" $T/err || die "apply: $(cat $T/err)"
[ "$(nwrites)" = 0 ] || die "wrote: $(cat /sys/.sim/writes)"
[ -d "$(mdev_dir $U)" ] || die "removed"
! grep -q "^mdev $U" /run/apmatrix/state || die "still recorded: $(cat /run/apmatrix/state)"
apmatrix status | grep -q "$U  not managed by apmatrix" || die "status: $(apmatrix status)"
# once handed over, said no more
apmatrix diff 2> $T/err > /dev/null
! grep -q "leaves it to mdevctl" $T/err || die "said again: $(cat $T/err)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "check: mdevctl definitions sharing a guest's APQN: error when autostarted, warning when manual; its own UUID with another matrix" {
	command -v mdevctl >/dev/null || skip "mdevctl not installed"
	in_sim "$HOSTS/seed.yaml" <<'EOF'
A=11111111-2222-3333-4444-555555555555
M=66666666-7777-8888-9999-aaaaaaaaaaaa
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
expect_exit 0 apmatrix check >/dev/null 2>&1
mdevctl define -u $A -p matrix -t vfio_ap-passthrough --auto || die define
mdevctl modify -u $A --addattr=assign_adapter --value=0x05 || die modify
mdevctl modify -u $A --addattr=assign_domain --value=0x47 || die modify
mdevctl define -u $M -p matrix -t vfio_ap-passthrough || die define
mdevctl modify -u $M --addattr=assign_adapter --value=0x06 || die modify
mdevctl modify -u $M --addattr=assign_domain --value=0xab || die modify
G1=$(uuid_of guest1)
mdevctl define -u $G1 -p matrix -t vfio_ap-passthrough --auto || die define
mdevctl modify -u $G1 --addattr=assign_adapter --value=0x05 || die modify
clear_writes
apmatrix check; echo "rc=$?"
[ "$(nwrites)" = 0 ] || die "check wrote"
# undefine the autostarted ones: only the warning is left, exit 0
mdevctl undefine -u $A; mdevctl undefine -u $G1
apmatrix check >/dev/null; echo "rc=$?"
EOF
	assert_success
	assert_line "apmatrix: /etc/apmatrix.yaml:12:15: guest 'guest2': APQN 05.0047 is also assigned by mdevctl definition /etc/mdevctl.d/matrix/11111111-2222-3333-4444-555555555555; mdevctl creates it at boot (start: auto): remove it (mdevctl undefine -u 11111111-2222-3333-4444-555555555555) or leave the queue out"
	assert_line --partial "warning: guest 'guest1': APQN 06.00ab is also assigned by mdevctl definition /etc/mdevctl.d/matrix/66666666-7777-8888-9999-aaaaaaaaaaaa; it fails when started (start: manual)"
	assert_line --regexp "^apmatrix: /etc/apmatrix.yaml:7:3: guest 'guest1': mdevctl definition /etc/mdevctl.d/matrix/[0-9a-f-]+ has the guest's UUID with other adapters \\(definition: 0x05, configuration: 0x05,0x06\\), usage domains \\(definition: -, configuration: 0x04,0xab\\) and control domains \\(definition: -, configuration: 0x04,0xab\\); mdevctl creates it at boot"
	assert_line "rc=65"
	assert_line "rc=0"
}

@test "mdevctl definition files named in the other forms mdevctl reads (32 hex digits, urn:uuid:, braces, upper case): check refuses the guest they race, naming the file; import --from mdevctl takes them; \"{32 hex digits}\" is skipped, as mdevctl skips it" {
	command -v mdevctl >/dev/null || skip "mdevctl not installed"
	in_sim "$HOSTS/seed.yaml" <<'EOF'
W=$(mktemp -d)
D=/etc/mdevctl.d/matrix; mkdir -p $D
M=/sys/devices/vfio_ap/matrix
U=11111111-1111-4111-8111-111111111111
echo -0x05,-0x06 > /sys/bus/ap/apmask
printf 'version: 1\nguests:\n  g1:\n    uuid: 22222222-2222-4222-8222-222222222222\n    adapters: [0x05]\n    domains: [0x04]\n' > /etc/apmatrix.yaml
for f in 11111111111141118111111111111111 urn:uuid:$U "{$U}" "{11111111-1111-4111-8111-11111111111A}" 1111111111114111811111111111111A; do
	rm -f $D/*
	echo '{"mdev_type": "vfio_ap-passthrough", "start": "auto", "attrs": [{"assign_adapter": "5"}, {"assign_domain": "4"}]}' > "$D/$f"
	u=$(echo "$f" | tr -d '{}' | sed 's/^urn:uuid://; s/^\(.\{8\}\)\(.\{4\}\)\(.\{4\}\)\(.\{4\}\)\([^-]\{12\}\)$/\1-\2-\3-\4-\5/' | tr A-F a-f)
	apmatrix check >$W/chk 2>&1; rc=$?
	[ "$rc" = 65 ] || die "$f: check exited $rc: $(cat $W/chk)"
	grep -qF "guest 'g1': APQN 05.0004 is also assigned by mdevctl definition $D/$f; mdevctl creates it at boot (start: auto): remove it (mdevctl undefine -u $u)" $W/chk || die "$f: check: $(cat $W/chk)"
	grep -q "not named by a UUID" $W/chk && die "$f: skipped: $(cat $W/chk)"
	expect_exit 0 apmatrix import --from mdevctl -o $W/y.yaml --force 2>$W/err
	grep -q "not named by a UUID" $W/err && die "$f: import skipped it: $(cat $W/err)"
	grep -q "^    uuid: $u\$" $W/y.yaml || die "$f: imported: $(cat $W/y.yaml)"
	grep -qF "$D/$f (start: auto)" $W/y.yaml || die "$f: the file is not named: $(cat $W/y.yaml)"
	# as mdevctl does: it starts the definition at boot, under that UUID
	mdevctl start-parent-mdevs matrix >/dev/null 2>&1
	[ -d $M/$u ] || die "$f: mdevctl did not start $u: $(ls $M)"
	echo 1 > $M/$u/remove
done
# braces around 32 hex digits: mdevctl cannot tell the UUID and skips the file; so does apmatrix
rm -f $D/*
f="{11111111111141118111111111111111}"
echo '{"mdev_type": "vfio_ap-passthrough", "start": "auto", "attrs": [{"assign_adapter": "5"}, {"assign_domain": "4"}]}' > "$D/$f"
apmatrix check >$W/chk 2>&1 || die "check refused: $(cat $W/chk)"
grep -qF "$D/$f: warning: mdevctl: not named by a UUID, not an mdevctl definition; skipped" $W/chk || die "no skip warning: $(cat $W/chk)"
# in --json, a diagnostic about the whole file: "file" set, the message without it
apmatrix check --json > $W/j 2>/dev/null || die "check --json refused"
jq -e --arg f "$D/$f" '[.diagnostics[] | select(.file == $f and .line == null and .message == "mdevctl: not named by a UUID, not an mdevctl definition; skipped")] | length == 1' $W/j > /dev/null ||
	die "json: $(cat $W/j)"
mdevctl start-parent-mdevs matrix >/dev/null 2>&1
[ -z "$(ls $M | grep -- -)" ] || die "mdevctl started it: $(ls $M)"
echo OK
EOF
	echo "$output"
	assert_success
	assert_output --partial OK
}

@test "check: an autostarted mdevctl definition that mdevctl cannot load (a JSON number, two attributes in one entry) or start does not refuse the guest: a warning at FILE:LINE:COL" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
A=11111111-2222-3333-4444-555555555555
B=22222222-2222-3333-4444-555555555555
C=33333333-2222-3333-4444-555555555555
D=/etc/mdevctl.d/matrix; mkdir -p $D
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
# guest2 has 05.0047: each definition below would take it
echo '{"mdev_type": "vfio_ap-passthrough", "start": "auto", "attrs": [{"assign_adapter": 5}, {"assign_domain": "0x47"}]}' > $D/$A
echo '{"mdev_type": "vfio_ap-passthrough", "start": "auto", "attrs": [{"assign_adapter": "0x05", "assign_domain": "0x47"}]}' > $D/$B
echo '{"mdev_type": "vfio_ap-passthrough", "start": "auto", "attrs": [{"assign_adapter": "0x05"}, {"assign_domain": "0x47"}, {"assign_domain": "0x100"}]}' > $D/$C
if command -v mdevctl >/dev/null; then
	# mdevctl itself: panics on the number, refuses the two attributes
	mdevctl start -u $A >/dev/null 2>&1; echo "mdevctl A rc=$?"
	mdevctl start -u $B >/dev/null 2>&1; echo "mdevctl B rc=$?"
	rm $D/$A $D/$B
	mdevctl start -u $C >/dev/null 2>&1; echo "mdevctl C rc=$?"
	ls /sys/bus/mdev/devices | grep -c . ; echo "mdevs above"
	echo '{"mdev_type": "vfio_ap-passthrough", "start": "auto", "attrs": [{"assign_adapter": 5}, {"assign_domain": "0x47"}]}' > $D/$A
	echo '{"mdev_type": "vfio_ap-passthrough", "start": "auto", "attrs": [{"assign_adapter": "0x05", "assign_domain": "0x47"}]}' > $D/$B
fi
apmatrix check; echo "rc=$?"
EOF
	echo "$output"
	assert_success
	assert_line "apmatrix: /etc/mdevctl.d/matrix/11111111-2222-3333-4444-555555555555:1:84: warning: mdevctl: mdev 11111111-2222-3333-4444-555555555555: assign_adapter: the value 5 is a JSON number, not a string (\"5\"); mdevctl cannot load the definition"
	assert_line --partial "/etc/mdevctl.d/matrix/22222222-2222-3333-4444-555555555555:1:65: warning: mdevctl: mdev 22222222-2222-3333-4444-555555555555: an attrs entry has 2 attributes (assign_adapter, assign_domain); mdevctl takes exactly one per entry"
	assert_line --partial "/etc/mdevctl.d/matrix/33333333-2222-3333-4444-555555555555:1:138: warning: mdevctl: mdev 33333333-2222-3333-4444-555555555555: assign_domain '0x100': not a number from 0 to 255"
	assert_line --partial "warning: mdevctl: while mdevctl cannot load a definition in /etc/mdevctl.d/matrix, \"mdevctl list --defined\" fails and mdevctl starts none of the definitions there at boot"
	refute_line --partial "is also assigned by mdevctl definition"
	assert_line "rc=0"
	if command -v mdevctl >/dev/null; then
		assert_line "mdevctl A rc=101"
		assert_line "mdevctl B rc=1"
		assert_line "mdevctl C rc=1"
		assert_line "0"
	fi
}

@test "diff and apply leave out a guest that an autostarted mdevctl definition races, as check refuses it; a manual one only warns" {
	command -v mdevctl >/dev/null || skip "mdevctl not installed"
	in_sim "$HOSTS/seed.yaml" <<'EOF'
A=11111111-2222-3333-4444-555555555555
M=66666666-7777-8888-9999-aaaaaaaaaaaa
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
G1=$(uuid_of guest1); G2=$(uuid_of guest2)
mdevctl define -u $A -p matrix -t vfio_ap-passthrough --auto || die define
mdevctl modify -u $A --addattr=assign_adapter --value=0x05 || die modify
mdevctl modify -u $A --addattr=assign_domain --value=0x47 || die modify
mdevctl define -u $M -p matrix -t vfio_ap-passthrough || die define
mdevctl modify -u $M --addattr=assign_adapter --value=0x06 || die modify
mdevctl modify -u $M --addattr=assign_domain --value=0xab || die modify
err="apmatrix: /etc/apmatrix.yaml:12:15: guest 'guest2': APQN 05.0047 is also assigned by mdevctl definition /etc/mdevctl.d/matrix/$A; mdevctl creates it at boot (start: auto): remove it (mdevctl undefine -u $A) or leave the queue out"
clear_writes
apmatrix diff > $T/out 2> $T/err; rc=$?
[ $rc = 1 ] || die "diff: exit $rc"
grep -qxF "$err" $T/err || die "diff: stderr $(cat $T/err)"
grep -q "warning: guest 'guest1': APQN 06.00ab is also assigned by mdevctl definition" $T/err || die "diff: no warning: $(cat $T/err)"
grep -q "guest1" $T/out || die "diff: guest1 not planned: $(cat $T/out)"
! grep -q "guest2" $T/out || die "diff: guest2 planned: $(cat $T/out)"
apmatrix --json diff 2>/dev/null | M="${err#apmatrix: /etc/apmatrix.yaml:12:15: }" jqe '[.diagnostics[] | select(.severity == "error")] | length == 1 and .[0].message == $ENV.M and .[0].guest == "guest2"' >/dev/null || die "diff --json: $(apmatrix --json diff 2>&1)"
[ "$(nwrites)" = 0 ] || die "diff wrote"
apmatrix apply > $T/out 2> $T/err; rc=$?
[ $rc = 1 ] || die "apply: exit $rc"
grep -qxF "$err" $T/err || die "apply: stderr $(cat $T/err)"
[ -d $(mdev_dir $G1) ] || die "guest1 not created"
[ ! -e $(mdev_dir $G2) ] || die "guest2 created"
! grep -q "$G2" /sys/.sim/writes || die "wrote for guest2: $(grep $G2 /sys/.sim/writes)"
[ -z "$(bad_writes)" ] || die "failed writes: $(bad_writes)"
# the definition gone, guest2 follows; a manual definition stays a warning
mdevctl undefine -u $A
apmatrix apply > $T/out 2> $T/err || die "apply after undefine: $(cat $T/err)"
[ -d $(mdev_dir $G2) ] || die "guest2 not created after undefine"
grep -q "warning: guest 'guest1': APQN 06.00ab" $T/err || die "no warning after undefine: $(cat $T/err)"
[ "$(apmatrix apply 2>/dev/null)" = "0 changes" ] || die "second apply"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "status and show give the mdevctl diagnostics diff gives, show a guest an autostarted definition races as left out with the reason, and mark what mdevctl defines; exit 0, nothing written" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
A=11111111-2222-3333-4444-555555555555
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
apmatrix apply -q || die "bring-up"
G1=$(uuid_of guest1); G2=$(uuid_of guest2)
mkdir -p /etc/mdevctl.d/matrix
# guest2's queue 05.0047 in a definition mdevctl starts at boot; guest1's own UUID in a manual one that matches
echo '{"mdev_type":"vfio_ap-passthrough","start":"auto","attrs":[{"assign_adapter":"5"},{"assign_domain":"71"}]}' > /etc/mdevctl.d/matrix/$A
echo '{"mdev_type":"vfio_ap-passthrough","start":"manual","attrs":[{"assign_adapter":"5"},{"assign_adapter":"6"},{"assign_domain":"4"},{"assign_domain":"171"},{"assign_control_domain":"4"},{"assign_control_domain":"171"}]}' > /etc/mdevctl.d/matrix/$G1
err="apmatrix: /etc/apmatrix.yaml:12:15: guest 'guest2': APQN 05.0047 is also assigned by mdevctl definition /etc/mdevctl.d/matrix/$A; mdevctl creates it at boot (start: auto): remove it (mdevctl undefine -u $A) or leave the queue out"
why="mdevctl definition /etc/mdevctl.d/matrix/$A (start: auto) also assigns APQN 05.0047"
expect_exit 1 apmatrix diff > /dev/null 2> $T/diff.err
grep -qxF "$err" $T/diff.err || die "diff: $(cat $T/diff.err)"
clear_writes
cp /run/apmatrix/state $T/state
# status: the error on stderr, the guest left out (its mdev as it is), the definitions marked, exit 0
expect_exit 0 apmatrix status > $T/out 2> $T/err
grep -qxF "$err" $T/err || die "status: stderr $(cat $T/err)"
grep -qxF "$(printf '%-16s %s  left out: %s (see the error); mdev matches' guest2 $G2 "$why")" $T/out || die "status: $(cat $T/out)"
grep -qxE "guest1 +$G1  matches; defined in mdevctl \(start: manual\)" $T/out || die "status guest1: $(cat $T/out)"
expect_exit 0 apmatrix status --json > $T/s.json 2> $T/s.err
[ ! -s $T/s.err ] || die "status --json: stderr $(cat $T/s.err)"
M="${err#apmatrix: /etc/apmatrix.yaml:12:15: }" W=$why P=/etc/mdevctl.d/matrix/$G1 jqe '([.diagnostics[] | select(.severity == "error")] | length == 1 and .[0].message == $ENV.M and .[0].guest == "guest2") and (.guests[] | select(.name == "guest2") | .state == "left_out" and .left_out == $ENV.W and .mdevctl == null and .live != null) and (.guests[] | select(.name == "guest1") | .state == "matches" and .left_out == null and .mdevctl.start == "manual" and .mdevctl.path == $ENV.P)' $T/s.json >/dev/null || die "status --json: $(cat $T/s.json)"
# show: the same diagnostics; the guest says it is left out
expect_exit 0 apmatrix show guest2 > $T/show 2> $T/show.err
grep -qxF "$err" $T/show.err || die "show: stderr $(cat $T/show.err)"
grep -qxF "  left out         by diff and apply: $why" $T/show || die "show: $(cat $T/show)"
expect_exit 0 apmatrix show guest1 > $T/show1 2>/dev/null
grep -qxF "  mdevctl          /etc/mdevctl.d/matrix/$G1 (start: manual)" $T/show1 || die "show guest1: $(cat $T/show1)"
expect_exit 0 apmatrix show --json > $T/show.json
M="${err#apmatrix: /etc/apmatrix.yaml:12:15: }" jqe '([.diagnostics[] | select(.severity == "error")] | length == 1 and .[0].message == $ENV.M) and (.guests[] | select(.name == "guest2") | .state == "left_out")' $T/show.json >/dev/null || die "show --json: $(cat $T/show.json)"
# guest2's mdev removed by hand: absent, but not "run apmatrix apply"
echo 1 > $(mdev_dir $G2)/remove
expect_exit 0 apmatrix status > $T/out 2>/dev/null
grep -qxF "$(printf '%-16s %s  left out: %s (see the error); mdev absent' guest2 $G2 "$why")" $T/out || die "status absent: $(cat $T/out)"
apmatrix show guest2 2>/dev/null | grep -qxF "  mdev             absent (apply leaves this guest out: see the error)" || die "show absent: $(apmatrix show guest2 2>&1)"
! grep -v "/remove" /sys/.sim/writes | grep -q . || die "status/show wrote: $(cat /sys/.sim/writes)"
cmp -s /run/apmatrix/state $T/state || die "state changed"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "status before apply: an mdev apmatrix made that mdevctl now defines is told as handed over, not as removed by apply; status changes nothing" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
U=aaaaaaaa-1111-4111-8111-111111111111
printf 'version: 1\nguests:\n  web1:\n    uuid: %s\n    adapters: [0x05]\n    domains: [0x47]\n' $U > /etc/apmatrix.yaml
apmatrix apply -q || die "bring-up"
mkdir -p /etc/mdevctl.d/matrix
echo '{"mdev_type":"vfio_ap-passthrough","start":"auto","attrs":[{"assign_adapter":"5"},{"assign_domain":"71"},{"assign_control_domain":"71"}]}' > /etc/mdevctl.d/matrix/$U
printf 'version: 1\nguests: {}\n' > /etc/apmatrix.yaml
note="apmatrix: note: mdev $U, which apmatrix made for guest 'web1', is no longer declared and mdevctl defines it (/etc/mdevctl.d/matrix/$U): apmatrix leaves it to mdevctl"
cp /run/apmatrix/state $T/state
expect_exit 0 apmatrix status > $T/out 2> $T/err
grep -qxF "$note" $T/err || die "status: stderr $(cat $T/err)"
grep -qxF "  $U  created by apmatrix for guest 'web1', now defined in mdevctl (start: auto): apply leaves it to mdevctl" $T/out || die "status: $(cat $T/out)"
! grep -q "will be removed" $T/out || die "status: $(cat $T/out)"
expect_exit 0 apmatrix status --json > $T/s.json
U=$U jqe '(.undeclared_mdevs | length == 1) and (.undeclared_mdevs[0] | .uuid == $ENV.U and .owned == false and .handed_over == true and .mdevctl.start == "auto" and .mdevctl.path == "/etc/mdevctl.d/matrix/" + $ENV.U) and ([.diagnostics[] | select(.severity == "note" and (.message | endswith("apmatrix leaves it to mdevctl")))] | length == 1)' $T/s.json >/dev/null || die "status --json: $(cat $T/s.json)"
cmp -s /run/apmatrix/state $T/state || die "status changed the records: $(cat /run/apmatrix/state)"
# after apply: no longer apmatrix's, still marked as mdevctl's
apmatrix apply -q 2>/dev/null || die apply
apmatrix status > $T/out 2> $T/err
grep -qxF "  $U  not managed by apmatrix (apply never changes or removes it); defined in mdevctl (start: auto)" $T/out || die "status after apply: $(cat $T/out)"
[ ! -s $T/err ] || die "status after apply: stderr $(cat $T/err)"
apmatrix status --json | jqe '.undeclared_mdevs[0] | .owned == false and .handed_over == false and .mdevctl.start == "auto"' >/dev/null || die "status --json after apply"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "an mdevctl definition of a guest's own UUID: the message names what differs on each side; control domains alone are a warning and leave the guest in, other usage domains refuse it" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
G1=$(uuid_of guest1)
mkdir -p /etc/mdevctl.d/matrix
# the guest's adapters and usage domains, one control domain fewer (usage-as-control gives 0x04,0xab)
echo '{"mdev_type":"vfio_ap-passthrough","start":"auto","attrs":[{"assign_adapter":"5"},{"assign_adapter":"6"},{"assign_domain":"4"},{"assign_domain":"171"},{"assign_control_domain":"4"}]}' > /etc/mdevctl.d/matrix/$G1
w="apmatrix: /etc/apmatrix.yaml:7:3: warning: guest 'guest1': mdevctl definition /etc/mdevctl.d/matrix/$G1 has the guest's UUID with other control domains (definition: 0x04, configuration: 0x04,0xab); mdevctl creates it at boot (start: auto) with those until apply sets the declared ones, or fails because the mdev exists: remove it (mdevctl undefine -u $G1) or make it match"
expect_exit 0 apmatrix check > /dev/null 2> $T/err
grep -qxF "$w" $T/err || die "check: $(cat $T/err)"
expect_exit 2 apmatrix diff > $T/out 2> $T/err
grep -qxF "$w" $T/err || die "diff: $(cat $T/err)"
grep -q guest1 $T/out || die "diff: guest1 left out: $(cat $T/out)"
apmatrix apply -q 2>/dev/null || die "apply"
[ -d $(mdev_dir $G1) ] || die "guest1 not created"
apmatrix status 2>/dev/null | grep -qxE "guest1 +$G1  matches; defined in mdevctl \(start: auto\)" || die "status: $(apmatrix status 2>&1)"
# other usage domains: the race of a shared queue, an error that names both sides
echo '{"mdev_type":"vfio_ap-passthrough","start":"auto","attrs":[{"assign_adapter":"5"},{"assign_adapter":"6"},{"assign_domain":"4"},{"assign_control_domain":"4"},{"assign_control_domain":"171"}]}' > /etc/mdevctl.d/matrix/$G1
e="apmatrix: /etc/apmatrix.yaml:7:3: guest 'guest1': mdevctl definition /etc/mdevctl.d/matrix/$G1 has the guest's UUID with other usage domains (definition: 0x04, configuration: 0x04,0xab); mdevctl creates it at boot (start: auto): remove it (mdevctl undefine -u $G1) or make it match"
expect_exit 65 apmatrix check > /dev/null 2> $T/err
grep -qxF "$e" $T/err || die "check: $(cat $T/err)"
expect_exit 0 apmatrix status > $T/out 2> $T/err
grep -qxF "$e" $T/err || die "status: $(cat $T/err)"
grep -qxE "guest1 +$G1  left out: mdevctl definition /etc/mdevctl.d/matrix/$G1 \(start: auto\) has its UUID with other usage domains \(definition: 0x04, configuration: 0x04,0xab\) \(see the error\); mdev matches; defined in mdevctl \(start: auto\)" $T/out || die "status: $(cat $T/out)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "the seed's Example 2 on a live host: its conflict is said once, as compile says it" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
cp "$EXAMPLES/seed-example2-invalid.yaml" /etc/apmatrix.yaml
expect_exit 65 apmatrix check > $T/out 2> $T/err
grep -v ": warning: " $T/err > $T/errors
[ "$(cat $T/errors)" = "apmatrix: /etc/apmatrix.yaml:11:15: guest 'Guest2': APQN 01.0006 already assigned to guest 'Guest1' (/etc/apmatrix.yaml:8:18)" ] || die "errors: $(cat $T/errors)"
apmatrix check --json | jqe '[.diagnostics[] | select(.severity == "error")] | length == 1' >/dev/null || die "json: $(apmatrix check --json)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "show on a live host: the '*' legend only while a cell has '*'" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
legend="  *   declared, not yet in effect (run apmatrix apply)"
apmatrix show > $T/before
grep -qxF "$legend" $T/before || die "before: $(cat $T/before)"
grep -q '^ *0[56] |.*\*' $T/before || die "no '*' cell before: $(cat $T/before)"
apmatrix apply > /dev/null
apmatrix show > $T/after
! grep -qxF "$legend" $T/after || die "after: $(cat $T/after)"
! grep -q '^ *0[56] |.*\*' $T/after || die "'*' cell after: $(cat $T/after)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "show and status draw nothing from a configuration a YAML syntax error cuts short: the error, exit 65, as check, diff and apply" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
# guest1 is read whole before the error, guest2 half: neither may be drawn
cat > /etc/apmatrix.yaml <<'YAML'
version: 1
guests:
  guest1:
    adapters: [0x05, 0x06]
    domains: [0x04, 0xab]
  guest2:
    adapters: [0x05
    domains: [0x47, 0xff]
YAML
err="apmatrix: /etc/apmatrix.yaml:8:12: YAML syntax error: did not find expected ',' or ']' (while parsing a flow sequence at 7:15)"
for cmd in show "show guest1" "show guest2" "--no-live show" status; do
	apmatrix $cmd > $T/out 2> $T/err; rc=$?
	[ $rc = 65 ] || die "$cmd: exit $rc"
	[ ! -s $T/out ] || die "$cmd drew: $(cat $T/out)"
	[ "$(cat $T/err)" = "$err" ] || die "$cmd: stderr $(cat $T/err)"
done
# --json: the error in the document, no guest in it (show: check's document)
for cmd in "--json show" "--no-live --json show" "--json status"; do
	apmatrix $cmd > $T/out 2> $T/err; rc=$?
	[ $rc = 65 ] && [ ! -s $T/err ] || die "$cmd: exit $rc, stderr $(cat $T/err)"
	M=${err#apmatrix: /etc/apmatrix.yaml:8:12: } jqe '.guests == [] and .host == null and (.diagnostics | length == 1 and .[0].message == $ENV.M and .[0].line == 8)' $T/out >/dev/null ||
		die "$cmd: $(cat $T/out)"
done
for cmd in check diff apply "guest guest1"; do
	apmatrix $cmd > $T/out 2> $T/err; rc=$?
	[ $rc = 65 ] || die "$cmd: exit $rc"
	[ "$(head -1 $T/err)" = "$err" ] || die "$cmd: stderr $(cat $T/err)"
done
# check: the error alone, no host checks of the half-read guests; --json lists no guest
apmatrix check > $T/out 2> $T/err
[ "$(cat $T/err)" = "$err" ] || die "check: stderr $(cat $T/err)"
apmatrix --json check > $T/out; rc=$?
[ $rc = 65 ] || die "check --json: exit $rc"
jqe '.valid == false and .guests == [] and .host == null and (.diagnostics | length) == 1' $T/out >/dev/null ||
	die "check --json: $(cat $T/out)"
[ "$(nwrites)" = 0 ] || die "wrote"
# a drop-in cut short: the same
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
mkdir -p /etc/apmatrix.d
printf 'guests:\n  guest3: {adapters: [0x06], domains: [0xff]\n' > /etc/apmatrix.d/50-x.yaml
err="apmatrix: /etc/apmatrix.d/50-x.yaml:3:1: YAML syntax error: did not find expected ',' or '}' (while parsing a flow mapping at 2:11)"
for cmd in show status; do
	apmatrix $cmd > $T/out 2> $T/err; rc=$?
	[ $rc = 65 ] && [ ! -s $T/out ] && [ "$(cat $T/err)" = "$err" ] || die "drop-in, $cmd: exit $rc, $(cat $T/out $T/err)"
done
# a configuration that parses but has errors is still drawn with them
rm -r /etc/apmatrix.d
printf 'version: 1\nguests:\n  g1: {adapters: [0x05], domains: [0x04]}\n  g2: {adapters: [0x05], domains: [0x04]}\n' > /etc/apmatrix.yaml
apmatrix show > $T/out 2> $T/err; rc=$?
[ $rc = 65 ] && grep -q '^ *05 | *!' $T/out || die "conflict, show: exit $rc, $(cat $T/out $T/err)"
apmatrix status > $T/out 2> $T/err; rc=$?
[ $rc = 65 ] && grep -q '^g2 ' $T/out || die "conflict, status: exit $rc, $(cat $T/out $T/err)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "host.keep not in effect: check warns at host.keep naming APQNs, holder and remedy; show draws the holder marked ~, k only where the host has the queue" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
F=66666666-7777-8888-9999-aaaaaaaaaaaa
echo -0x05,-0x06 > /sys/bus/ap/apmask; echo -0x47,-0xff > /sys/bus/ap/aqmask
echo $F > /sys/devices/vfio_ap/matrix/mdev_supported_types/vfio_ap-passthrough/create
echo 5 > $(mdev_dir $F)/assign_adapter
for d in 0x47 0xff; do echo $d > $(mdev_dir $F)/assign_domain; done
echo "attach $F" > /sys/.sim/guest
printf 'version: 1\nhost:\n  keep:\n    domains: [0x47, 0xff]\n' > /etc/apmatrix.yaml
clear_writes
expect_exit 0 apmatrix check
apmatrix show > $T/show || die "show: $?"
cat $T/show
[ "$(nwrites)" = 0 ] || die "check or show wrote"
# once the mdev is gone and the masks reserve the queues, keep is in effect
echo "detach $F" > /sys/.sim/guest
echo 1 > $(mdev_dir $F)/remove
echo +0x06 > /sys/bus/ap/apmask; echo +0x47,+0xff > /sys/bus/ap/aqmask
echo +0x05 > /sys/bus/ap/apmask
apmatrix check 2>$T/err2 || die "check: $?"
[ ! -s $T/err2 ] || die "keep in effect, check warned: $(cat $T/err2)"
apmatrix show | sed 's/^/after: /'
EOF
	assert_success
	assert_line "apmatrix: /etc/apmatrix.yaml:3:3: warning: host.keep is not in effect for APQNs 05.0047 05.00ff: mdev 66666666-7777-8888-9999-aaaaaaaaaaaa (not managed by apmatrix, in use by a running guest) holds them; remove it (echo 1 > /sys/devices/vfio_ap/matrix/66666666-7777-8888-9999-aaaaaaaaaaaa/remove) once its guest is stopped, or leave them out of host.keep"
	assert_line "apmatrix: /etc/apmatrix.yaml:3:3: warning: host.keep is not in effect for APQNs 06.0047 06.00ff: bound to vfio_ap, because the masks do not reserve them (apmask bit 0x06, aqmask bits 0x47,0xff clear), and apmatrix gives back only bits it cleared: echo +0x06 > /sys/bus/ap/apmask; echo +0x47,+0xff > /sys/bus/ap/aqmask"
	assert_line "    05 |  v   f~  v   f~"
	assert_line "    06 |  v   v~  v   v~"
	assert_line "  ~   kept by host.keep, but not in effect: drawn as what has the queue now (apmatrix check"
	refute_line "  k   kept by the host (host.keep)"
	assert_line "after:     05 |  h   k   h   k"
	assert_line "after:     06 |  h   k   h   k"
	assert_line "after:   k   kept by the host (host.keep)"
	refute_line --partial "after:   ~"
}

@test "host.keep not in effect: apply says so when its run is done (text and --json), for what it leaves so; not for what it puts right itself" {
	in_sim "$(seed_topo 6.12)" <<'EOF'
# card 0x05 taken from the host outside apmatrix (a boot setting)
echo -0x05 > /sys/bus/ap/apmask
printf 'version: 1\nhost:\n  keep:\n    adapters: [0x05]\nguests:\n  g1:\n    adapters: [0x06]\n    domains: [0x47]\n' > /etc/apmatrix.yaml
want="apmatrix: /etc/apmatrix.yaml:3:3: warning: host.keep is not in effect for APQNs 05.0004 05.0047 05.00ab 05.00ff: bound to vfio_ap, because the masks do not reserve them (apmask bit 0x05 clear), and apmatrix gives back only bits it cleared: echo +0x05 > /sys/bus/ap/apmask"
apmatrix apply > $T/out 2> $T/err || die "apply: exit $?: $(cat $T/err)"
[ "$(grep -cxF "$want" $T/err)" = 1 ] || die "apply: $(cat $T/err)"
# converged: the run writes nothing, and says it again
apmatrix apply --json > $T/json 2> $T/err || die "apply --json: exit $?"
jqe '.done == 0 and ([.diagnostics[] | select(.message == $w and .line == 3 and .column == 3 and .severity == "warning")] | length == 1)' --arg w "${want#apmatrix: /etc/apmatrix.yaml:3:3: warning: }" $T/json > /dev/null || die "--json: $(cat $T/json)"
# the mdev of a guest no longer declared holds a kept queue: apply removes it, and does not warn
echo +0x05 > /sys/bus/ap/apmask
printf 'version: 1\nguests:\n  g2:\n    adapters: [0x05]\n    domains: [0x04]\n' > /etc/apmatrix.yaml
apmatrix apply -q || die "g2"
printf 'version: 1\nhost:\n  keep:\n    adapters: [0x05]\n' > /etc/apmatrix.yaml
apmatrix check 2> $T/err
grep -q "host.keep is not in effect for APQN 05.0004: mdev .* that apmatrix made for guest 'g2'" $T/err || die "check: $(cat $T/err)"
apmatrix apply > $T/out 2> $T/err || die "apply g2 removed: exit $?"
! grep -q "not in effect" $T/err || die "warned for what apply put right: $(cat $T/err)"
grep -q "remove mdev" $T/out || die "not removed: $(cat $T/out)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "host.keep not in effect on a bit apmatrix cleared that a running guest's mdev still needs: the warning says the give-back waits for that mdev; after its stop apply gives the bit back" {
	t=$(seed_topo3 6.0)
	in_sim "$t" <<'EOF'
printf 'version: 1\nguests:\n  g1:\n    adapters: [0x05, 0x06]\n    domains: [0x47, 0xab]\n  g2:\n    adapters: [0x07]\n    domains: [0x04]\n' > /etc/apmatrix.yaml
apmatrix apply -q || die "bring-up"
g1=$(uuid_of g1)
echo "attach $g1" > /sys/.sim/guest
# the host keeps domain 0x47, which g1 (running) still holds
printf 'version: 1\nhost:\n  keep:\n    domains: [0x47]\nguests:\n  g1:\n    adapters: [0x05, 0x06]\n    domains: [0xab]\n  g2:\n    adapters: [0x07]\n    domains: [0x04]\n' > /etc/apmatrix.yaml
want="apmatrix: /etc/apmatrix.yaml:3:3: warning: host.keep is not in effect for APQN 07.0047: bound to vfio_ap, because the masks do not reserve it (aqmask bit 0x47 clear); apply gives back aqmask bit 0x47, which apmatrix cleared, once no mdev holds an APQN under it (mdev $g1 holds 05.0047)"
apmatrix check 2> $T/err
grep -qxF "$want" $T/err || die "check: $(cat $T/err)"
clear_writes
expect_exit 2 apmatrix apply > $T/out 2> $T/err
grep -qxF "$want" $T/err || die "apply: $(cat $T/err)"
! grep -q "^bus/ap/aqmask" /sys/.sim/writes || die "aqmask written: $(cat /sys/.sim/writes)"
echo "detach $g1" > /sys/.sim/guest
expect_exit 0 apmatrix apply > $T/out 2> $T/err
! grep -q "not in effect" $T/err || die "apply after the stop: $(cat $T/err)"
[ -e /sys/bus/ap/drivers/cex4queue/07.0047 ] || die "07.0047 not the host's: $(ls /sys/bus/ap/drivers/*/)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "host.keep not in effect: status (text and --json), show --json and diff (text and --json) carry check's warnings, at host.keep" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
F=66666666-7777-8888-9999-aaaaaaaaaaaa
echo -0x05,-0x06 > /sys/bus/ap/apmask; echo -0x47,-0xff > /sys/bus/ap/aqmask
echo $F > /sys/devices/vfio_ap/matrix/mdev_supported_types/vfio_ap-passthrough/create
echo 5 > $(mdev_dir $F)/assign_adapter
for d in 0x47 0xff; do echo $d > $(mdev_dir $F)/assign_domain; done
echo "attach $F" > /sys/.sim/guest
printf 'version: 1\nhost:\n  keep:\n    domains: [0x47, 0xff]\n' > /etc/apmatrix.yaml
clear_writes
apmatrix check 2>$T/check.err || die "check: $?"
grep 'host.keep is not in effect' $T/check.err > $T/want
[ "$(wc -l < $T/want)" = 2 ] || die "check: $(cat $T/check.err)"
apmatrix status > /dev/null 2>$T/err; grep 'host.keep is not in effect' $T/err > $T/got
cmp -s $T/want $T/got || die "status: $(cat $T/err)"
apmatrix diff > /dev/null 2>$T/err; rc=$?
[ $rc = 0 ] || [ $rc = 2 ] || die "diff: exit $rc: $(cat $T/err)"
grep 'host.keep is not in effect' $T/err > $T/got
cmp -s $T/want $T/got || die "diff: $(cat $T/err)"
# --json: the same messages, at /etc/apmatrix.yaml:3:3
apmatrix check --json | jq -c '[.diagnostics[] | select(.message | startswith("host.keep is not in effect"))]' > $T/want.json
jqe 'length == 2 and all(.file == "/etc/apmatrix.yaml" and .line == 3 and .column == 3 and .severity == "warning")' $T/want.json >/dev/null || die "check --json: $(cat $T/want.json)"
for cmd in status show diff; do
	apmatrix $cmd --json 2>$T/err | jq -c '[.diagnostics[] | select(.message | startswith("host.keep is not in effect"))]' > $T/got.json
	cmp -s $T/want.json $T/got.json || die "$cmd --json: $(cat $T/got.json)"
	[ ! -s $T/err ] || die "$cmd --json, stderr: $(cat $T/err)"
done
[ "$(nwrites)" = 0 ] || die "wrote"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "host.keep not in effect: a running guest's mdev apmatrix made (guest no longer declared) or a declared guest's mdev that still holds a kept queue" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
cp $EXAMPLES/seed-two-guests.yaml /etc/apmatrix.yaml
expect_exit 0 apmatrix apply >/dev/null
U1=$(uuid_of guest1); U2=$(uuid_of guest2)
echo "attach $U2" > /sys/.sim/guest
echo "attach $U1" > /sys/.sim/guest
cat > /etc/apmatrix.yaml <<'YAML'
version: 1
host:
  keep:
    domains: [0x47, 0xff, 0xab]
guests:
  guest1:
    adapters: [0x05, 0x06]
    domains: [0x04]
YAML
clear_writes
expect_exit 0 apmatrix check 2>$T/err
cat $T/err
apmatrix show | sed -n '1,8p'
[ "$(nwrites)" = 0 ] || die "check or show wrote"
echo "U1=$U1 U2=$U2"
EOF
	assert_success
	u1=$(sed -n 's/^U1=\([^ ]*\) U2=.*/\1/p' <<<"$output")
	u2=$(sed -n 's/.* U2=//p' <<<"$output")
	assert_line "apmatrix: /etc/apmatrix.yaml:3:3: warning: host.keep is not in effect for APQNs 05.0047 05.00ff: mdev $u2 that apmatrix made for guest 'guest2', no longer declared, in use by a running guest, still holds them; apply removes it once its guest stops (run apmatrix apply then, or enable the libvirt hook)"
	assert_line "apmatrix: /etc/apmatrix.yaml:3:3: warning: host.keep is not in effect for APQNs 05.00ab 06.00ab: mdev $u1 of guest 'guest1', in use by a running guest, still holds them; apply unassigns them with --force (kernel 6.0 or later) or once the guest is stopped"
	assert_line "    05 |  A   u~  A~  u~"
	assert_line "    06 |  A   k   A~  k"
}

@test "vfio_ap not loaded: show and status give check's error (text on stderr, an error diagnostic in --json), exit 0; guest says the mdev cannot be created" {
	in_sim "$HOSTS/static-5.15.yaml" <<'EOF'
printf 'version: 1\nguests:\n  g1: {adapters: [5], domains: [0x47]}\n' > /etc/apmatrix.yaml
msg="vfio_ap is not loaded (no devices/vfio_ap/matrix): guests are declared but no mdev can be created"
expect_exit 65 apmatrix check 2>$T/err
[ "$(cat $T/err)" = "apmatrix: $msg" ] || die "check: $(cat $T/err)"
for cmd in show status; do
	expect_exit 0 apmatrix $cmd >$T/out 2>$T/err
	[ "$(cat $T/err)" = "apmatrix: $msg" ] || die "$cmd: stderr $(cat $T/err)"
	grep -q "run apmatrix apply" $T/out && die "$cmd: $(cat $T/out)"
	expect_exit 0 apmatrix --json $cmd >$T/j.json 2>$T/err
	[ ! -s $T/err ] || die "$cmd --json: stderr $(cat $T/err)"
	M=$msg jqe '.host.vfio_loaded == false and .diagnostics == [{"severity": "error", "file": null, "line": null, "column": null, "guest": null, "message": $ENV.M}]' $T/j.json >/dev/null || die "$cmd --json: $(cat $T/j.json)"
done
apmatrix show >$T/out 2>/dev/null
grep -qxF "  *   declared, not in effect: vfio_ap is not loaded, no mdev can be created" $T/out || die "show legend: $(cat $T/out)"
grep -qxF "  mdev             absent (vfio_ap is not loaded: it cannot be created)" $T/out || die "show mdev: $(cat $T/out)"
expect_exit 0 apmatrix guest g1 >$T/out 2>$T/err
[ "$(cat $T/err)" = "apmatrix: warning: guest 'g1': mdev b7c6c7b4-8773-5179-a2a2-ca7ae54f724f does not exist and cannot be created: vfio_ap is not loaded (no devices/vfio_ap/matrix)" ] || die "guest: $(cat $T/err)"
grep -q "address uuid='b7c6c7b4-8773-5179-a2a2-ca7ae54f724f'" $T/out || die "guest: $(cat $T/out)"
# no guests declared: nothing to say
printf 'version: 1\nguests: {}\n' > /etc/apmatrix.yaml
for cmd in show status; do
	expect_exit 0 apmatrix $cmd >/dev/null 2>$T/err
	[ ! -s $T/err ] || die "$cmd without guests: $(cat $T/err)"
	apmatrix --json $cmd >$T/j.json 2>/dev/null
	jqe '.diagnostics == []' $T/j.json >/dev/null || die "$cmd --json without guests: $(cat $T/j.json)"
done
# once vfio_ap is loaded the error is gone and show says to apply
echo vfio_ap > /sys/.sim/modprobe
printf 'version: 1\nguests:\n  g1: {adapters: [5], domains: [0x47]}\n' > /etc/apmatrix.yaml
expect_exit 0 apmatrix show >$T/out 2>$T/err
[ ! -s $T/err ] || die "show after modprobe: $(cat $T/err)"
grep -qxF "  mdev             absent (run apmatrix apply)" $T/out || die "show after modprobe: $(cat $T/out)"
apmatrix guest g1 2>&1 >/dev/null | grep -qF "does not exist yet (run apmatrix apply)" || die "guest after modprobe"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "a card that leaves the LPAR under a running guest: the warning says (running) and does not call it over-provisioned" {
	in_sim "$(seed_topo 6.12)" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
apmatrix apply > /dev/null || die "bring-up"
echo "attach $(uuid_of guest1)" > /sys/.sim/guest
echo 'remove 0x06' > /sys/.sim/hotplug
apmatrix status > /dev/null 2> $T/err
cat $T/err
apmatrix apply > /dev/null 2>&1 || die "apply"
echo "detach $(uuid_of guest1)" > /sys/.sim/guest
apmatrix diff 2>&1 >/dev/null | sed 's/^/stopped: /'
EOF
	assert_success
	assert_line "apmatrix: /etc/apmatrix.yaml:8:22: warning: guest 'guest1' (running): adapter 0x06 is not configured in this LPAR now (assigned all the same: the guest gets it as soon as the LPAR has it)"
	assert_line "stopped: apmatrix: /etc/apmatrix.yaml:8:22: warning: guest 'guest1': adapter 0x06 is not configured in this LPAR now (assigned all the same: the guest gets it as soon as the LPAR has it)"
	refute_output --partial "over-provisioned"
}

@test "a key indented wrongly on a host: check, diff, apply and their --json give the YAML syntax error alone, no 'no usage domains', no plan notes, no write" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
apmatrix apply >/dev/null 2>&1 || die "first apply"
clear_writes
printf 'version: 1\nguests:\n  guest1:\n    adapters: [0x05]\n   domains: [0x04]\n' > /etc/apmatrix.yaml
err="apmatrix: /etc/apmatrix.yaml:5:4: YAML syntax error: did not find expected key (while parsing a block mapping at 3:3)"
for cmd in check diff apply; do
	apmatrix $cmd > $T/out 2> $T/err; rc=$?
	[ $rc = 65 ] || die "$cmd: exit $rc"
	[ "$(head -1 $T/err)" = "$err" ] || die "$cmd: stderr $(cat $T/err)"
	! grep -v -e "^$err\$" -e '^apmatrix: nothing was changed$' $T/err || die "$cmd: more than the error"
	apmatrix --json $cmd > $T/out 2> $T/err; rc=$?
	[ $rc = 65 ] || die "$cmd --json: exit $rc"
	M=${err#apmatrix: /etc/apmatrix.yaml:5:4: } jqe '[.diagnostics[] | .message] == [$ENV.M]' $T/out >/dev/null ||
		die "$cmd --json: $(cat $T/out)"
done
[ "$(nwrites)" = 0 ] || die "wrote"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "check on a host: a configuration with errors gets no plan notes (mask bits that stay taken, zeroize), its errors and the host's warnings stay; a valid one still gets them" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
apmatrix apply >/dev/null 2>&1 || die "first apply"
# an overlap: one error; the plan would have said "apmask bit ... stays taken"
printf 'version: 1\nguests:\n  guest1:\n    adapters: [0x05]\n    domains: ["0x00-0x10"]\n  guest2:\n    adapters: [0x05, 0x06]\n    domains: [0x04]\n' > /etc/apmatrix.yaml
apmatrix check > $T/out 2> $T/err; rc=$?
cat $T/err
[ $rc = 65 ] || die "overlap: exit $rc"
grep -qxF "apmatrix: /etc/apmatrix.yaml:8:15: guest 'guest2': APQN 05.0004 already assigned to guest 'guest1' (/etc/apmatrix.yaml:5:15)" $T/err || die "overlap: no error"
grep -q ': warning: guest .guest1.: usage domains 0x00-0x03,0x05-0x10 are not configured in this LPAR now' $T/err || die "overlap: no LPAR warning"
! grep -q 'note:' $T/err || die "overlap: notes"
apmatrix --json check > $T/out; rc=$?
[ $rc = 65 ] || die "overlap --json: exit $rc"
jqe '([.diagnostics[] | select(.severity == "note")] == []) and ([.diagnostics[] | select(.severity == "error")] | length == 1)' $T/out >/dev/null || die "overlap --json: $(cat $T/out)"
# an error only the host tells (an adapter beyond its maximum), found after
# the configuration's own checks: no note either (guest2's mdev still holds
# 05.0047, so the plan would say "apmask bit 0x05 stays taken")
printf 'version: 1\nguests:\n  guest1:\n    adapters: [0x05, 0x06]\n    domains: [0x04, 0xab]\n  guest2:\n    adapters: [0x40]\n    domains: [0x47, 0xff]\n' > /etc/apmatrix.yaml
for j in "" --json; do
	apmatrix $j check > $T/out 2> $T/err; rc=$?
	[ $rc = 65 ] || die "range $j: exit $rc"
	cat $T/out $T/err > $T/both
	grep -q "guest2.*adapters 0x40 beyond this host's maximum 0x3f" $T/both || die "range $j: no error: $(cat $T/both)"
	! grep -qi 'stays taken' $T/both || die "range $j: notes: $(cat $T/both)"
done
printf 'version: 1\nguests:\n  "my guest":\n    adapters: [0x05]\n    domains: [0x04]\n' > /etc/apmatrix.yaml
apmatrix check 2> $T/err; rc=$?
cat $T/err
[ $rc = 65 ] || die "name: exit $rc"
[ "$(cat $T/err)" = "apmatrix: /etc/apmatrix.yaml:3:3: guest 'my guest': invalid name; use 1-64 characters from A-Z a-z 0-9 _ . - (not '.' or '..')" ] || die "name: $(cat $T/err)"
# the same guest with a valid name: the plan runs, and its note is said
printf 'version: 1\nguests:\n  myguest:\n    adapters: [0x05]\n    domains: [0x04]\n' > /etc/apmatrix.yaml
apmatrix check 2> $T/err; rc=$?
[ $rc = 0 ] || die "valid: exit $rc, $(cat $T/err)"
grep -q "note: guest 'myguest': takes usage domain 0x04 on adapter 0x05 .*zeroize it" $T/err || die "valid: no note: $(cat $T/err)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "host.keep not in effect, in a configuration with errors: check and status give the error, not the warning that says what apply would do; once valid, the warning is back" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
seed_two_guests
# the host keeps card 0x06, which guest1 still claims: an error, so apply
# unassigns nothing, as "host.keep is not in effect ... apply unassigns them" said
sed -i 's/^guests:/host:\n  keep:\n    adapters: [0x06]\nguests:/' /etc/apmatrix.yaml
for cmd in check status; do
	apmatrix $cmd > /dev/null 2> $T/err; rc=$?
	[ $rc = 65 ] || die "$cmd: exit $rc"
	grep -qxF "apmatrix: /etc/apmatrix.yaml:12:15: guest 'guest1': APQNs 06.0004 06.00ab kept by the host (host.keep at /etc/apmatrix.yaml:7:3)" $T/err || die "$cmd: no error: $(cat $T/err)"
	! grep -q "not in effect" $T/err || die "$cmd: $(cat $T/err)"
	apmatrix $cmd --json > $T/json 2> /dev/null
	jqe '[.diagnostics[] | select(.message | contains("not in effect"))] == []' $T/json > /dev/null || die "$cmd --json: $(cat $T/json)"
done
# guest1 drops the card: valid, and the mdev still holds the kept queues
sed -i 's/adapters: \[0x05, 0x06\]/adapters: [0x05]/' /etc/apmatrix.yaml
apmatrix check 2> $T/err || die "valid: exit $?: $(cat $T/err)"
grep -q "warning: host.keep is not in effect for APQNs 06.0004 06.00ab: mdev $g1 of guest 'guest1' still holds them; apply unassigns them" $T/err || die "valid: $(cat $T/err)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "a usage domain beyond the host's maximum is one error, not a second one as a control domain; a control domain given beyond it is its own" {
	in_sim "$HOSTS/static-5.15.yaml" <<'EOF'
echo vfio_ap > /sys/.sim/modprobe
printf 'version: 1\nguests:\n  g:\n    adapters: [0x05]\n    domains: [0x47, 0x55]\n' > /etc/apmatrix.yaml
apmatrix check 2> $T/err; rc=$?
cat $T/err
[ $rc = 65 ] || die "exit $rc"
[ "$(grep -c 'beyond this host' $T/err)" = 1 ] || die "not once: $(cat $T/err)"
grep -qxF "apmatrix: /etc/apmatrix.yaml:5:21: guest 'g': domains 0x55 beyond this host's maximum 0x54" $T/err || die "no domain error"
printf 'version: 1\nguests:\n  g:\n    adapters: [0x05]\n    domains: [0x47, 0x55]\n    control-domains: [0x56]\n' > /etc/apmatrix.yaml
apmatrix check 2> $T/err; rc=$?
cat $T/err
[ $rc = 65 ] || die "exit $rc"
grep -qxF "apmatrix: /etc/apmatrix.yaml:5:21: guest 'g': domains 0x55 beyond this host's maximum 0x54" $T/err || die "no domain error"
grep -qxF "apmatrix: /etc/apmatrix.yaml:6:23: guest 'g': control domains 0x56 beyond this host's maximum 0x54" $T/err || die "no control domain error"
[ "$(grep -c 'beyond this host' $T/err)" = 2 ] || die "not twice: $(cat $T/err)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "an autostarted mdevctl definition that assigns beyond the host's maximum never starts: a warning, its queues do not count, no guest is left out" {
	# the seed host with 85 domains (0x00-0x54): 0x50 for 0xab and 0x54 for 0xff
	t=$BATS_TEST_TMPDIR/seed85.yaml
	sed -e 's/^max_domain: 0xff$/max_domain: 0x54/' -e 's/0xab/0x50/g' -e 's/0xff\]/0x54]/' "$HOSTS/seed.yaml" >"$t"
	grep -q '^max_domain: 0x54$' "$t"
	in_sim "$t" <<'EOF'
sed -e 's/0xab/0x50/g' -e 's/0xff\]/0x54]/' "$EXAMPLES/seed-two-guests.yaml" > /etc/apmatrix.yaml
D=/etc/mdevctl.d/matrix; mkdir -p $D
A=aaaaaaaa-0000-4000-8000-000000000001
echo '{"mdev_type": "vfio_ap-passthrough", "start": "auto", "attrs": [{"assign_adapter": "5"}, {"assign_adapter": "0x40"}, {"assign_domain": "0x47"}, {"assign_domain": "0x55"}]}' > $D/$A
# every dimension beyond its maximum is named, as import names them
W="apmatrix: warning: mdevctl definition $D/$A assigns adapter 0x40 (this host's maximum 0x3f) and domain 0x55 (this host's maximum 0x54): its start fails and mdevctl removes the mdev again, so its queues do not count"
# one that unassigns it again later fails all the same: mdevctl writes each
# attribute in turn, and the first the kernel refuses ends the start; its
# 05.0047 (guest2's) does not count either
B=aaaaaaaa-0000-4000-8000-000000000002
echo '{"mdev_type": "vfio_ap-passthrough", "start": "auto", "attrs": [{"assign_adapter": "0x40"}, {"unassign_adapter": "0x40"}, {"assign_adapter": "5"}, {"assign_domain": "0x47"}]}' > $D/$B
WB="apmatrix: warning: mdevctl definition $D/$B assigns adapter 0x40 (this host's maximum 0x3f): its start fails and mdevctl removes the mdev again, so its queues do not count"
apmatrix check >$T/out 2>$T/err || die "check: $(cat $T/err)"
grep -qxF "$W" $T/err || die "check warning: $(cat $T/err)"
grep -qxF "$WB" $T/err || die "check warning B: $(cat $T/err)"
! grep -q "also assigned by mdevctl" $T/err || die "a conflict said: $(cat $T/err)"
apmatrix status >$T/out 2>$T/err
grep -qxF "$W" $T/err || die "status warning: $(cat $T/err)"
! grep -q "left out" $T/out || die "status: $(cat $T/out)"
expect_exit 0 apmatrix apply >/dev/null 2>$T/err
grep -q "^guest2 .* matches" <(apmatrix status 2>/dev/null) || die "guest2: $(apmatrix status 2>&1)"
# the real mdevctl agrees: its start of that definition fails and leaves no mdev
if command -v mdevctl >/dev/null; then
	! mdevctl start -u $A >/dev/null 2>&1 || die "mdevctl started it"
	[ ! -e /sys/bus/mdev/devices/$A ] || die "mdevctl left the mdev"
	! mdevctl start -u $B >/dev/null 2>&1 || die "mdevctl started B"
	[ ! -e /sys/bus/mdev/devices/$B ] || die "mdevctl left B's mdev"
fi
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "an autostarted mdevctl definition that sets ap_config on a kernel before 6.10 never starts: a warning naming the file, the UUID and the kernel interface; its queues do not count, no guest is left out" {
	t=$(seed_topo 6.0)
	in_sim "$t" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
apmatrix apply -q || die "bring-up"
D=/etc/mdevctl.d/matrix; mkdir -p $D
A=aaaaaaaa-0000-4000-8000-000000000001
CFG=0x0400000000000000000000000000000000000000000000000000000000000000,0x0000000000000000010000000000000000000000000000000000000000000000,0x0
echo "{\"mdev_type\": \"vfio_ap-passthrough\", \"start\": \"auto\", \"attrs\": [{\"ap_config\": \"$CFG\"}]}" > $D/$A
W="apmatrix: warning: mdevctl definition $D/$A (mdev $A) sets ap_config, which this host's kernel (dynamic kernel interface, before 6.10) does not have: its start fails (\"Invalid attribute 'ap_config'\") and mdevctl removes the mdev again, so its queues do not count"
apmatrix check >$T/out 2>$T/err || die "check: $(cat $T/err)"
grep -qxF "$W" $T/err || die "check warning: $(cat $T/err)"
! grep -q "also assigned by mdevctl" $T/err || die "a conflict said: $(cat $T/err)"
apmatrix status >$T/out 2>$T/err
grep -qxF "$W" $T/err || die "status warning: $(cat $T/err)"
! grep -q "left out" $T/out || die "status: $(cat $T/out)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "an mdev apmatrix made on a kernel before 6.10, then defined in mdevctl with ap_config (a start that fails there) and dropped from the configuration, is handed over all the same: not removed" {
	t=$(seed_topo 6.0)
	in_sim "$t" <<'EOF'
U=aaaaaaaa-1111-4111-8111-111111111111
printf 'version: 1\nguests:\n  web1:\n    uuid: %s\n    adapters: [0x05]\n    domains: [0x47]\n' $U > /etc/apmatrix.yaml
apmatrix apply -q || die "bring-up"
grep -q "^mdev $U web1" /run/apmatrix/state || die "not recorded: $(cat /run/apmatrix/state)"
D=/etc/mdevctl.d/matrix; mkdir -p $D
CFG=0x0400000000000000000000000000000000000000000000000000000000000000,0x0000000000000000010000000000000000000000000000000000000000000000,0x0
echo "{\"mdev_type\": \"vfio_ap-passthrough\", \"start\": \"auto\", \"attrs\": [{\"ap_config\": \"$CFG\"}]}" > $D/$U
printf 'version: 1\nguests: {}\n' > /etc/apmatrix.yaml
clear_writes
apmatrix apply > $T/out 2> $T/err || die "apply: exit $?: $(cat $T/err)"
grep -qF "mdev $U, which apmatrix made for guest 'web1', is no longer declared and mdevctl defines it ($D/$U): apmatrix leaves it to mdevctl" $T/err ||
	die "not handed over: $(cat $T/err)"
grep -qF "sets ap_config, which this host's kernel" $T/err || die "no ap_config warning: $(cat $T/err)"
[ -d "$(mdev_dir $U)" ] || die "removed: $(cat /sys/.sim/writes)"
! grep -q "^mdev $U" /run/apmatrix/state || die "still recorded: $(cat /run/apmatrix/state)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "check: two mdevctl definition files that name one UUID (upper and lower case, 32 hex digits): a warning naming both files and the UUID, as import's error; status says it too" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
D=/etc/mdevctl.d/matrix; mkdir -p $D
U=bbbbbbbb-0000-4000-8000-000000000001
echo '{"mdev_type": "vfio_ap-passthrough", "start": "manual", "attrs": [{"assign_adapter": "6"}, {"assign_domain": "0x47"}]}' > $D/$U
echo '{"mdev_type": "vfio_ap-passthrough", "start": "manual", "attrs": [{"assign_adapter": "6"}, {"assign_domain": "0xff"}]}' > $D/BBBBBBBB-0000-4000-8000-000000000001
W="apmatrix: warning: mdevctl: $D/BBBBBBBB-0000-4000-8000-000000000001 and $D/$U both define mdev $U: mdevctl starts the first it reads, and the other's start fails (the mdev exists); undefine or remove one of them"
apmatrix check >$T/out 2>$T/err || die "check: $(cat $T/err)"
cat $T/err
grep -qxF "$W" $T/err || die "check warning: $(cat $T/err)"
[ "$(grep -c "both define" $T/err)" = 1 ] || die "said once: $(cat $T/err)"
apmatrix status >$T/out 2>$T/err
grep -qxF "$W" $T/err || die "status warning: $(cat $T/err)"
# import gives the same words as an error
expect_exit 65 apmatrix import --from mdevctl 2>$T/err >/dev/null
grep -qxF "apmatrix: ${W#apmatrix: warning: mdevctl: }" $T/err || die "import: $(cat $T/err)"
mv $D/BBBBBBBB-0000-4000-8000-000000000001 $D/bbbbbbbb000040008000000000000001
apmatrix check >$T/out 2>$T/err || die "check: $(cat $T/err)"
grep -qxF "apmatrix: warning: mdevctl: $D/$U and $D/bbbbbbbb000040008000000000000001 both define mdev $U: mdevctl starts the first it reads, and the other's start fails (the mdev exists); undefine or remove one of them" $T/err || die "32 hex digits: $(cat $T/err)"
rm $D/bbbbbbbb000040008000000000000001
apmatrix check >$T/out 2>$T/err || die "check: $(cat $T/err)"
! grep -q "both define" $T/err || die "one file: $(cat $T/err)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "status and show: a guest whose queue a foreign mdev holds is left out as diff says, with the reason and diff's error; a guest whose queue that guest's mdev keeps is left out too; exit 0, nothing written" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
F=7d1c0000-0000-4000-8000-000000000001
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
apmatrix apply -q || die "bring-up"
G1=$(uuid_of guest1); G2=$(uuid_of guest2)
# a foreign mdev takes 06.0047; guest1 now wants it and gives up 05.00ab 06.00ab, which guest2 now wants
echo -0x06 > /sys/bus/ap/apmask
echo $F > /sys/devices/vfio_ap/matrix/mdev_supported_types/vfio_ap-passthrough/create
echo 0x06 > $(mdev_dir $F)/assign_adapter
echo 0x47 > $(mdev_dir $F)/assign_domain
cat > /etc/apmatrix.yaml <<'Y'
version: 1
guests:
  guest1:
    adapters: [0x05, 0x06]
    domains: [0x04, 0x47]
  guest2:
    adapters: [0x05, 0x06]
    domains: [0xab, 0xff]
Y
err1="apmatrix: /etc/apmatrix.yaml:5:21: guest 'guest1': APQN 06.0047 is assigned to mdev $F (not managed by apmatrix); remove it (echo 1 > /sys/devices/vfio_ap/matrix/$F/remove) once its guest is stopped, or declare it: uuid: $F on the guest that should have the queue"
err2="apmatrix: guest 'guest2': APQN 05.00ab is assigned to mdev $G1 of guest 'guest1', which is left unchanged because of its errors"
why1="APQN 06.0047 is assigned to mdev $F (not managed by apmatrix)"
why2="APQNs 05.00ab 06.00ab are assigned to mdev $G1 of guest 'guest1', left unchanged because of its errors"
expect_exit 1 apmatrix diff > /dev/null 2> $T/diff.err
grep -qxF "$err1" $T/diff.err || die "diff: $(cat $T/diff.err)"
grep -qxF "$err2" $T/diff.err || die "diff: $(cat $T/diff.err)"
clear_writes
# status: diff's errors on stderr, both guests left out with why, their mdevs as they are, exit 0
expect_exit 0 apmatrix status > $T/out 2> $T/err
grep -qxF "$err1" $T/err || die "status: stderr $(cat $T/err)"
grep -qxF "$err2" $T/err || die "status: stderr $(cat $T/err)"
[ "$(wc -l < $T/err)" = 2 ] || die "status: stderr $(cat $T/err)"
grep -qF "$(printf '%-16s %s  left out: %s (see the error); mdev differs: ' guest1 $G1 "$why1")" $T/out || die "status guest1: $(cat $T/out)"
grep -qF "$(printf '%-16s %s  left out: %s (see the error); mdev differs: ' guest2 $G2 "$why2")" $T/out || die "status guest2: $(cat $T/out)"
grep -qxF "    overlaps guest 'guest1' on 06.0047" $T/out || die "status overlaps: $(cat $T/out)"
expect_exit 0 apmatrix status --json > $T/s.json 2> $T/s.err
[ ! -s $T/s.err ] || die "status --json: stderr $(cat $T/s.err)"
M1="${err1#apmatrix: /etc/apmatrix.yaml:5:21: }" M2="${err2#apmatrix: }" W1=$why1 W2=$why2 jqe '([.diagnostics[] | select(.severity == "error") | .message] | sort == ([$ENV.M1, $ENV.M2] | sort)) and (.guests[] | select(.name == "guest1") | .state == "left_out" and .left_out == $ENV.W1 and .live != null) and (.guests[] | select(.name == "guest2") | .state == "left_out" and .left_out == $ENV.W2)' $T/s.json >/dev/null || die "status --json: $(cat $T/s.json)"
# show: the same errors, the guest says why
expect_exit 0 apmatrix show guest1 > $T/show 2> $T/show.err
grep -qxF "$err1" $T/show.err || die "show: stderr $(cat $T/show.err)"
grep -qxF "  left out         by diff and apply: $why1" $T/show || die "show: $(cat $T/show)"
grep -qxF "  what the guest would see (apply leaves it out):" $T/show || die "show: $(cat $T/show)"
expect_exit 0 apmatrix show --json > $T/show.json 2>/dev/null
W1=$why1 jqe '(.guests[] | select(.name == "guest1") | .state == "left_out" and .left_out == $ENV.W1) and ([.diagnostics[] | select(.severity == "error")] | length == 2)' $T/show.json >/dev/null || die "show --json: $(cat $T/show.json)"
# the foreign mdev removed: nothing left out
echo 1 > $(mdev_dir $F)/remove
expect_exit 0 apmatrix status > $T/out 2> $T/err
[ ! -s $T/err ] || die "status after: stderr $(cat $T/err)"
! grep -q "left out" $T/out || die "status after: $(cat $T/out)"
! grep -v "/remove" /sys/.sim/writes | grep -q . || die "status/show wrote: $(cat /sys/.sim/writes)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "status and show: a guest left out for errors of its own (an adapter beyond the host's maximum) is left out there too, with its error, not 'differs'; so is a guest its kept mdev blocks" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
apmatrix apply -q || die "bring-up"
G1=$(uuid_of guest1); G2=$(uuid_of guest2)
cat > /etc/apmatrix.yaml <<'Y'
version: 1
guests:
  guest1:
    adapters: [0x05, 0x06, 0x40]
    domains: [0x04]
  guest2:
    adapters: [0x05, 0x06]
    domains: [0xab]
Y
err1="apmatrix: /etc/apmatrix.yaml:4:28: guest 'guest1': adapters 0x40 beyond this host's maximum 0x3f"
err2="apmatrix: guest 'guest2': APQN 05.00ab is assigned to mdev $G1 of guest 'guest1', which is left unchanged because of its errors"
why1="adapters 0x40 beyond this host's maximum 0x3f"
expect_exit 1 apmatrix diff > /dev/null 2> $T/diff.err
grep -qxF "$err1" $T/diff.err || die "diff: $(cat $T/diff.err)"
grep -qxF "$err2" $T/diff.err || die "diff: $(cat $T/diff.err)"
clear_writes
expect_exit 0 apmatrix status > $T/out 2> $T/err
grep -qxF "$err1" $T/err || die "status: stderr $(cat $T/err)"
grep -qxF "$err2" $T/err || die "status: stderr $(cat $T/err)"
grep -qF "$(printf '%-16s %s  left out: %s (see the error); mdev differs: ' guest1 $G1 "$why1")" $T/out || die "status guest1: $(cat $T/out)"
grep -qF "$(printf '%-16s %s  left out: APQNs 05.00ab 06.00ab are assigned' guest2 $G2)" $T/out || die "status guest2: $(cat $T/out)"
expect_exit 0 apmatrix status --json > $T/s.json 2>/dev/null
W1=$why1 jqe '(.guests[] | select(.name == "guest1") | .state == "left_out" and .left_out == $ENV.W1) and (.guests[] | select(.name == "guest2") | .state == "left_out")' $T/s.json >/dev/null || die "status --json: $(cat $T/s.json)"
expect_exit 0 apmatrix show guest1 > $T/show 2>/dev/null
grep -qxF "  left out         by diff and apply: $why1" $T/show || die "show: $(cat $T/show)"
[ "$(nwrites)" = 0 ] || die "status/show wrote: $(cat /sys/.sim/writes)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "show: the queues of a guest diff and apply leave out are drawn with 'x', not '*', and the legend says so (a foreign mdev, an autostarted mdevctl definition)" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
F=7d1c0000-0000-4000-8000-000000000001
A=11111111-2222-3333-4444-555555555555
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
# a foreign mdev holds guest2's 05.0047; nothing applied yet
echo -0x05 > /sys/bus/ap/apmask
echo $F > /sys/devices/vfio_ap/matrix/mdev_supported_types/vfio_ap-passthrough/create
echo 0x05 > $(mdev_dir $F)/assign_adapter
echo 0x47 > $(mdev_dir $F)/assign_domain
expect_exit 0 apmatrix --color never show > $T/show 2>/dev/null
sed -n '1,15p' $T/show
echo --
# the foreign mdev gone, an autostarted definition names guest1's 06.0004; guest2 applied
echo 1 > $(mdev_dir $F)/remove
mkdir -p /etc/mdevctl.d/matrix
echo '{"mdev_type":"vfio_ap-passthrough","start":"auto","attrs":[{"assign_adapter":"6"},{"assign_domain":"4"}]}' > /etc/mdevctl.d/matrix/$A
expect_exit 1 apmatrix apply -q >/dev/null 2>&1
expect_exit 0 apmatrix --color never show > $T/show 2>/dev/null
sed -n '1,15p' $T/show
echo --
# guest2 alone, on 06.0004 (the definition's) and 06.0047: left out, its mdev keeps 05.0047 05.00ff (no '-')
printf 'version: 1\nguests:\n  guest2:\n    adapters: [0x06]\n    domains: [0x04, 0x47]\n' > /etc/apmatrix.yaml
expect_exit 0 apmatrix --color never show > $T/show 2>/dev/null
sed -n '1,15p' $T/show
EOF
	assert_success
	# the foreign mdev: guest2's queues 'x' ('!' where that mdev holds one), guest1's '*'
	assert_line "    05 |  A*  !x  A*  Bx"
	assert_line "    06 |  A*  h   A*  h"
	# the definition: guest1's queues 'x'
	assert_line "    05 |  Ax  B   Ax  B"
	assert_line "    06 |  Ax  h   Ax  h"
	assert_line --regexp "^  B   guest2  [0-9a-f-]{36}  adapters 0x05       domains 0x47,0xff  \(left out by diff and apply: see the error\)$"
	assert_line --regexp "^  A   guest1  [0-9a-f-]{36}  adapters 0x05,0x06  domains 0x04,0xab  \(left out by diff and apply: see the error\)$"
	assert_line "  x   declared, not assigned: diff and apply leave its guest out (see the error)"
	assert_line "  *   declared, not yet in effect (run apmatrix apply)"
	# what a left-out guest's mdev has and it no longer declares stays: drawn as its own, without '-'
	assert_line "    05 |  v   A   v   A"
	assert_line "    06 |  Ax  Ax  h   h"
	refute_line --partial "still in that guest's mdev"
}
