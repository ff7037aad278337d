#!/usr/bin/env bats
# A guest that stops while apply runs (review F6): the libvirt hook's start
# request is merged into the running job and the stop makes no uevent, so
# the hook leaves RUNDIR/rerun first (hooks/libvirt-qemu-hook); apply takes
# it before it reads the host, and again after its last round, when changes
# are left pending: then it plans once more.  diff and status never take it.

load helpers

setup() {
	need_root
	# sourced by the scripts: hook runs the libvirt hook as libvirt does once
	# guest1 has stopped ("release end", a vfio-ap hostdev on stdin), with a
	# systemctl stub that only logs (during a run, systemd would merge its
	# start into the running job); the run directory is the simulated host's
	# /run/apmatrix.  (wait_fired, in_sim's: the simulator took the rules.)
	cat > "$BATS_TEST_TMPDIR/fns.sh" <<'EOT'
hook() {
	mkdir -p $T/stub
	printf '#!/bin/sh\necho "systemctl $*" >> %s\n' "$T/systemctl.log" > $T/stub/systemctl
	chmod +x $T/stub/systemctl
	echo "<domain><devices><hostdev mode='subsystem' type='mdev' model='vfio-ap'/></devices></domain>" |
		PATH=$T/stub:$PATH "$EXAMPLES/../hooks/libvirt-qemu-hook" guest1 release end -
}
EOT
}

@test "a guest that stops after apply's last read of the host, with the hook's request made meanwhile: apply plans once more and makes the change (exit 0)" {
	for kernel in 6.12 6.5; do
		in_sim "$(seed_topo $kernel)" <<'EOF'
. $T/fns.sh
rm -f $T/systemctl.log
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
apmatrix apply -q || die "apply failed"
g1=$(uuid_of guest1)
echo "attach $g1" > /sys/.sim/guest
# guest1 (running) drops domain 0xab: pending; nothing else to do
sed -i 's/domains: \[0x04, 0xab\]/domains: [0x04]/' /etc/apmatrix.yaml
expect_exit 2 apmatrix diff > /dev/null
clear_writes
# the read of guest1's queue status waits; then the next read of the
# uevent number, after the plan (a round that wrote nothing asks whether the
# host changed): guest1 stops and the hook runs while that read waits, after
# apply last read guest1's state
echo "rdelay devices/ap/card05/05.0004/status 1000" > /sys/.sim/fail
apmatrix apply --json > $T/out 2> $T/err & pid=$!
wait_fired "guest1's queue status"
echo "rdelay kernel/uevent_seqnum 1500" > /sys/.sim/fail
wait_fired "the uevent number after the plan"
echo "detach $g1" > /sys/.sim/guest
hook || die "hook exit $?"
[ -e /run/apmatrix/rerun ] || die "no request"
wait $pid; rc=$?
[ $rc = 0 ] || die "exit $rc, expected 0: $(cat $T/err)"
grep -q "$g1/unassign_domain\|$g1/ap_config" /sys/.sim/writes || die "guest1 not changed: $(cat /sys/.sim/writes)"
grep -qx "apmatrix: a guest stopped while apply ran; planning once more" $T/err || die "no notice: $(cat $T/err)"
# said pending once (the first round), then done
grep -q "guest1.*pending: guest is running" $T/err || die "no pending warning: $(cat $T/err)"
jqe '[.actions[] | select(.guest == "guest1")] | length > 0 and any(.outcome == "done") and
	all(.outcome != "pending" or .round == 1)' < $T/out >/dev/null || die "JSON: $(cat $T/out)"
[ ! -e /run/apmatrix/rerun ] || die "the request was not taken"
[ "$(cat $T/systemctl.log)" = "systemctl --no-block start apmatrix-apply.service" ] || die "systemctl: $(cat $T/systemctl.log)"
expect_exit 0 apmatrix diff > /dev/null
[ -z "$(bad_writes)" ] || die "failed writes: $(bad_writes)"
echo "OK"
EOF
		assert_success
		assert_output --partial OK
	done
}

@test "the hook's request made before apply reads the host is taken by that read: no second plan; diff and status leave it; nothing pending, nothing taken at the end" {
	in_sim "$(seed_topo 6.12)" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
apmatrix apply -q || die "apply failed"
g1=$(uuid_of guest1)
echo "attach $g1" > /sys/.sim/guest
sed -i 's/domains: \[0x04, 0xab\]/domains: [0x04]/' /etc/apmatrix.yaml
: > /run/apmatrix/rerun
# diff, apply --dry-run and status read; they never take it
expect_exit 2 apmatrix diff > /dev/null
expect_exit 2 apmatrix apply --dry-run > /dev/null
apmatrix status > /dev/null
[ -e /run/apmatrix/rerun ] || die "a read-only command took the request"
clear_writes
apmatrix apply > $T/out 2> $T/err; rc=$?
[ $rc = 2 ] || die "exit $rc, expected 2 (pending): $(cat $T/err)"
[ ! -e /run/apmatrix/rerun ] || die "apply did not take the request"
! grep -q "planning once more" $T/err || die "planned again: $(cat $T/err)"
[ "$(nwrites)" = 0 ] || die "wrote: $(cat /sys/.sim/writes)"
# nothing pending: a request taken at the start plans nothing more
echo "detach $g1" > /sys/.sim/guest
expect_exit 0 apmatrix apply > /dev/null
: > /run/apmatrix/rerun
apmatrix apply > $T/out 2> $T/err; rc=$?
[ $rc = 0 ] || die "exit $rc: $(cat $T/err)"
[ ! -s $T/err ] || die "stderr: $(cat $T/err)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "two running guests stop one after the other while apply writes a third guest's change: each stop is one more plan, not a mismatch (exit 0, all made)" {
	in_sim "$(seed_topo 6.12)" <<'EOF'
printf 'version: 1\nguests:\n  guest1: {adapters: [5], domains: [4]}\n  guest2: {adapters: [5], domains: [0x47]}\n  guest3: {adapters: [6], domains: [0xab]}\n' > /etc/apmatrix.yaml
apmatrix apply -q || die "bring-up"
g1=$(uuid_of guest1); g2=$(uuid_of guest2); g3=$(uuid_of guest3)
echo "attach $g1" > /sys/.sim/guest
echo "attach $g3" > /sys/.sim/guest
# each guest gains a queue: guest2's is written, guest1's and guest3's pend
printf 'version: 1\nguests:\n  guest1: {adapters: [5, 6], domains: [4]}\n  guest2: {adapters: [5, 6], domains: [0x47]}\n  guest3: {adapters: [6], domains: [0xab, 0xff]}\n' > /etc/apmatrix.yaml
clear_writes
# guest1 stops while guest2's write waits (before the check that follows it),
# guest3 while guest1's write waits, in the next round
echo "wdelay *$g2/ap_config 1500" > /sys/.sim/fail
apmatrix apply > $T/out 2> $T/err & pid=$!
wait_fired "guest2's write"
echo "wdelay *$g1/ap_config 1500" > /sys/.sim/fail
echo "detach $g1" > /sys/.sim/guest
wait_fired "guest1's write"
echo "detach $g3" > /sys/.sim/guest
wait $pid; rc=$?
[ $rc = 0 ] || die "exit $rc, expected 0: $(cat $T/err) $(cat $T/out)"
for g in $g1 $g2 $g3; do grep -q "$g/ap_config" /sys/.sim/writes || die "$g not written: $(cat /sys/.sim/writes)"; done
[ "$(grep -c "a guest stopped while apply ran; planning once more" $T/err)" = 2 ] || die "notices: $(cat $T/err)"
! grep -q "does not match" $T/err || die "$(cat $T/err)"
expect_exit 0 apmatrix diff > /dev/null
[ -z "$(bad_writes)" ] || die "failed writes: $(bad_writes)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "a failed step and what it left untried are counted once, though apply plans once more for a guest stop: the summary names failed, skipped and pending" {
	in_sim "$(seed_topo 6.5)" <<'EOF'
seed_two_guests
echo "attach $g1" > /sys/.sim/guest
# guest1 (running) drops domain 0xab: pending; guest2 gains adapter 0x06
# (fails) and control domain 0x01 (not tried), and the give-back of apmask
# 0x05, which leaves guest2's 05.0047 05.00ff to the aqmask take, waits for
# guest2's change (not tried: the round after the failure gives the take back)
sed -i 's/domains: \[0x04, 0xab\]/domains: [0x04]/; s/adapters: \[0x05\]$/adapters: [0x05, 0x06]\n    control-domains: [0x01]/' /etc/apmatrix.yaml
expect_exit 2 apmatrix diff > /dev/null
clear_writes
# the request comes while guest2's failing write waits: guest1 still runs,
# so the plan once more changes nothing, and says nothing again
printf 'wdelay *%s/assign_adapter 1000\n*%s/assign_adapter EIO 1\n' $g2 $g2 > /sys/.sim/fail
apmatrix apply --json > $T/json 2> /dev/null & pid=$!
wait_fired "guest2's write"
: > /run/apmatrix/rerun
wait $pid; rc=$?
[ $rc = 1 ] || die "exit $rc, expected 1"
[ ! -e /run/apmatrix/rerun ] || die "the request was not taken"
jqe '.failed == 1 and .skipped == 2 and .pending == 2' $T/json > /dev/null || die "JSON counts: $(jq -c 'del(.actions)' $T/json)"
[ "$(jq '[.actions[] | select(.outcome == "skipped")] | length' $T/json)" = 2 ] || die "skipped twice: $(jq -c .actions $T/json)"
printf 'wdelay *%s/assign_adapter 1000\n*%s/assign_adapter EIO 1\n' $g2 $g2 > /sys/.sim/fail
apmatrix apply > $T/out 2> $T/err & pid=$!
wait_fired "guest2's write"
: > /run/apmatrix/rerun
wait $pid; rc=$?
[ $rc = 1 ] || die "exit $rc, expected 1"
grep -qx "a guest stopped while apply ran; planning once more" <(sed 's/^apmatrix: //' $T/err) || die "no second plan: $(cat $T/err)"
[ "$(grep -c "not tried" $T/err)" = 2 ] || die "said twice: $(cat $T/err)"
grep -qx "2 changes applied, 1 failed, 2 skipped, 2 pending (.*)" $T/out || die "summary: $(cat $T/out)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}
