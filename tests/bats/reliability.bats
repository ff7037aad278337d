#!/usr/bin/env bats
# Reliability (issue 6, tests/RELIABILITY.md): a sampled fault sweep, kill -9
# at random points, concurrent applies with s390-tools lock holders, and
# regression tests for what the full runs (make reliability) found.

load helpers

REL=$TOP/tests/reliability

setup() {
	need_root
	command -v strace >/dev/null || skip "strace not installed (tests/lib/deps)"
}

@test "fault sweep (sample): 12 (write position, errno) faults, apply says so, a clean apply converges" {
	run "$REL/sweep" -s 2 -k 6.12 -n 12 -o "$BATS_TEST_TMPDIR/sweep"
	echo "$output" | grep -v '^ok '
	assert_success
	assert_output --partial "fault sweep: 12/12 points held"
}

@test "crash consistency (sample): kill -9 at 4 random points, the records stay exact, a re-run converges" {
	run "$REL/crash" -s 2 -n 4 -k 6.12 -o "$BATS_TEST_TMPDIR/crash"
	echo "$output" | grep -v '^ok '
	assert_success
	assert_output --partial "crash consistency: 4/4 converged"
}

@test "concurrency: 10 applies with new configurations in between and two s390 lock holders are serialized" {
	run "$REL/concurrency" -s 2 -o "$BATS_TEST_TMPDIR/conc"
	echo "$output"
	assert_success
	assert_output --partial "concurrency: 1/1 rounds held"
}

@test "a configuration edited while apply runs is left to the next run (no false 'host does not match')" {
	in_sim "$HOSTS/seed.yaml" <<'EOF2'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
echo "delay devices/* 400" > /sys/.sim/fail
apmatrix apply > $T/out 2> $T/err & pid=$!
until grep -q create /sys/.sim/writes; do sleep 0.02; done
printf 'version: 1\nguests:\n  guest3: {adapters: [0x06], domains: [0xff]}\n' > /etc/apmatrix.yaml.new
mv /etc/apmatrix.yaml.new /etc/apmatrix.yaml
wait $pid; rc=$?
echo clear > /sys/.sim/fail
[ $rc = 0 ] || die "apply exited $rc: $(cat $T/err)"
! grep -q "planning once more\|does not match" $T/err || die "treated the edit as a host change: $(cat $T/err)"
expect_exit 0 apmatrix -c "$EXAMPLES/seed-two-guests.yaml" diff >/dev/null
expect_exit 2 apmatrix diff >/dev/null
expect_exit 0 apmatrix apply >/dev/null
expect_exit 0 apmatrix diff >/dev/null
echo OK
EOF2
	assert_success
	assert_output --partial OK
}

@test "apply removes ownership temp files a killed run left, and keeps the records" {
	in_sim "$HOSTS/seed.yaml" <<'EOF2'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
apmatrix apply >/dev/null || die apply
cp /run/apmatrix/state $T/state
cp /run/apmatrix/cards $T/cards
printf 'apmatrix-state 1\nmdev 00000000-0000-4000-8000-000000000000 bogus\n' > /run/apmatrix/.state.99999.tmp
printf 'apmatrix-cards 1\ncard 05 CEX7P ep11\n' > /run/apmatrix/.cards.99999.tmp
: > /run/apmatrix/.cardsX.tmp # not one of apmatrix's names: left alone
expect_exit 0 apmatrix apply >/dev/null
[ ! -e /run/apmatrix/.state.99999.tmp ] && [ ! -e /run/apmatrix/.cards.99999.tmp ] || die "temp file left"
[ -e /run/apmatrix/.cardsX.tmp ] || die "another file removed"
cmp -s $T/state /run/apmatrix/state || die "records changed: $(cat /run/apmatrix/state)"
cmp -s $T/cards /run/apmatrix/cards || die "card records changed: $(cat /run/apmatrix/cards)"
echo OK
EOF2
	assert_success
	assert_output --partial OK
}

@test "a failed listing of the mdevs: apply keeps the records, writes nothing, exits 1; the mdevs stay apmatrix's" {
	in_sim "$HOSTS/seed.yaml" <<'EOF2'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
apmatrix apply >/dev/null || die apply
cp /run/apmatrix/state $T/state
cp /run/apmatrix/cards $T/cards
DEVS=devices/vfio_ap/matrix/mdev_supported_types/vfio_ap-passthrough/devices
msg="cannot read /sys/$DEVS: Input/output error (EIO): the host read is incomplete"
clear_writes
echo "rfail $DEVS EIO 1" > /sys/.sim/fail
apmatrix apply > $T/out 2> $T/err; rc=$?
[ $rc = 1 ] || die "apply exited $rc: $(cat $T/err)"
[ -z "$(cat /sys/.sim/fail)" ] || die "the listing was not tried: $(cat /sys/.sim/fail)"
grep -qF "$msg" $T/err || die "no message: $(cat $T/err)"
[ "$(grep -c . $T/err)" = 1 ] || die "more than the one error: $(cat $T/err)"
[ "$(nwrites)" = 0 ] || die "wrote: $(cat /sys/.sim/writes)"
cmp -s $T/state /run/apmatrix/state || die "records changed: $(cat /run/apmatrix/state)"
cmp -s $T/cards /run/apmatrix/cards || die "card records changed: $(cat /run/apmatrix/cards)"
# diff and status say it too, with no plan built on the read
echo "rfail $DEVS EIO 2" > /sys/.sim/fail
apmatrix diff > $T/out 2> $T/err; rc=$?
[ $rc = 1 ] || die "diff exited $rc: $(cat $T/err)"
grep -qF "$msg" $T/err || die "diff: no message: $(cat $T/err)"
[ ! -s $T/out ] || die "diff printed a plan: $(cat $T/out)"
apmatrix status > $T/out 2> $T/err; rc=$?
[ $rc = 1 ] || die "status exited $rc: $(cat $T/err)"
grep -qF "$msg" $T/err || die "status: no message: $(cat $T/err)"
[ -z "$(cat /sys/.sim/fail)" ] || die "rules left: $(cat /sys/.sim/fail)"
cmp -s $T/state /run/apmatrix/state || die "records changed by diff or status"
# the listing works again: nothing to do, and the mdevs are still apmatrix's
[ "$(apmatrix apply 2>&1)" = "0 changes" ] || die "not converged: $(apmatrix diff 2>&1)"
[ "$(nwrites)" = 0 ] || die "wrote: $(cat /sys/.sim/writes)"
cmp -s $T/state /run/apmatrix/state || die "records changed: $(cat /run/apmatrix/state)"
printf 'version: 1\nguests:\n  guest2: {adapters: [0x05], domains: [0x47, 0xff]}\n' > /etc/apmatrix.yaml
g1=$(awk '$3 == "guest1" {print $2}' $T/state)
[ -n "$g1" ] || die "no record of guest1: $(cat $T/state)"
expect_exit 0 apmatrix apply >/dev/null
[ ! -e /sys/devices/vfio_ap/matrix/$g1 ] || die "guest1's mdev not removed"
grep -q "$g1/remove" /sys/.sim/writes || die "no remove: $(cat /sys/.sim/writes)"
bad=$(bad_writes); [ -z "$bad" ] || die "failed writes: $bad"
echo OK
EOF2
	assert_success
	assert_output --partial OK
}

@test "a failed listing of the AP devices or read of an mdev's assignment: apply writes nothing and keeps the records" {
	in_sim "$HOSTS/seed.yaml" <<'EOF2'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
apmatrix apply >/dev/null || die apply
cp /run/apmatrix/state $T/state
cp /run/apmatrix/cards $T/cards
for rules in 'rfail bus/ap/drivers EIO 1\nrfail bus/ap/devices EIO 1\nrfail devices/ap EIO 1' \
	     'rfail devices/vfio_ap/matrix/*-*-*/* EACCES 1'; do
	clear_writes
	printf "$rules\n" > /sys/.sim/fail
	apmatrix apply > $T/out 2> $T/err; rc=$?
[ $rc = 1 ] || die "apply exited $rc: $(cat $T/err)"
	[ -z "$(cat /sys/.sim/fail)" ] || die "not all tried: $(cat /sys/.sim/fail)"
	grep -q "the host read is incomplete" $T/err || die "no message: $(cat $T/err)"
	[ "$(nwrites)" = 0 ] || die "wrote: $(cat /sys/.sim/writes)"
	cmp -s $T/state /run/apmatrix/state || die "records changed: $(cat /run/apmatrix/state)"
	cmp -s $T/cards /run/apmatrix/cards || die "card records changed: $(cat /run/apmatrix/cards)"
done
[ "$(apmatrix apply 2>&1)" = "0 changes" ] || die "not converged"
echo OK
EOF2
	assert_success
	assert_output --partial OK
}

@test "failed creates are explained as creates (EBUSY, ENODEV, EEXIST), not as a running guest" {
	in_sim "$HOSTS/seed.yaml" <<'EOF2'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
echo "*/create EBUSY 1" > /sys/.sim/fail
apmatrix apply > $T/out 2> $T/err; rc=$?
[ $rc = 1 ] || die "exit $rc"
grep -q "guest1 .*: create mdev: the kernel is busy; the mdev was not created (EBUSY)" $T/err || die "EBUSY: $(cat $T/err)"
! grep -q "running guest" $T/err || die "blames a running guest: $(cat $T/err)"
echo "*/create ENODEV 1" > /sys/.sim/fail
printf 'version: 1\nguests:\n  guest3: {adapters: [0x06], domains: [0xff]}\n' > /etc/apmatrix.yaml
apmatrix apply > $T/out 2> $T/err; rc=$?
[ $rc = 1 ] || die "exit $rc"
grep -q "guest3 .*: create mdev: the mdev type is gone .*(ENODEV)" $T/err || die "ENODEV: $(cat $T/err)"
# the UUID taken by an mdev apmatrix does not list (another parent, or made meanwhile)
echo "*/create EEXIST 1" > /sys/.sim/fail
apmatrix apply > $T/out 2> $T/err; rc=$?
[ $rc = 1 ] || die "exit $rc"
u=$(uuid_of guest3)
grep -q "guest3 $u: create mdev: an mdev with UUID $u already exists: made by another tool meanwhile, or an mdev of another parent (such as vfio_ccw) uses the UUID; see /sys/bus/mdev/devices/$u (EEXIST)" $T/err ||
	die "EEXIST: $(cat $T/err)"
expect_exit 0 apmatrix apply >/dev/null
echo OK
EOF2
	assert_success
	assert_output --partial OK
}

@test "s390 lock: an empty lock younger than 120 s makes apply wait and time out; an older one is stale" {
	in_sim "$HOSTS/seed.yaml" <<'EOF2'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
: > /run/lock/s390apconfig.lock
apmatrix apply --wait 1 > $T/out 2> $T/err; rc=$?
[ $rc = 75 ] || die "exit $rc"
grep -q "cannot take the lock /run/lock/s390apconfig.lock" $T/err || die "message: $(cat $T/err)"
[ "$(nwrites)" = 0 ] || die "wrote without the lock"
touch -d '-200 seconds' /run/lock/s390apconfig.lock
expect_exit 0 timeout 20 apmatrix apply --wait 5 >/dev/null
[ ! -e /run/lock/s390apconfig.lock ] || die "lock left"
echo OK
EOF2
	assert_success
	assert_output --partial OK
}

@test "s390 lock: a symbolic link, a directory or a FIFO at the lock path is an error at once (exit 1, no write), not a wait without end; status does not hang on it" {
	in_sim "$HOSTS/seed.yaml" <<'EOF2'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
L=/run/lock/s390apconfig.lock
for kind in "a symbolic link" "a directory" "a FIFO"; do
	case $kind in
	*link) ln -s /nonexistent $L ;;
	*directory) mkdir $L; touch -d '-200 seconds' $L ;;
	*FIFO) mkfifo $L ;;
	esac
	# before: a busy loop past --wait (link, directory) or a blocked open (FIFO)
	timeout 20 apmatrix apply --wait 5 > $T/out 2> $T/err; rc=$?
	[ $rc = 1 ] || die "$kind: exit $rc: $(cat $T/err)"
	grep -qx "apmatrix: cannot take the lock $L: it is $kind, not a lock file; it is no lock of apmatrix or s390-tools: move it away" $T/err ||
		die "$kind: $(cat $T/err)"
	[ "$(nwrites)" = 0 ] || die "$kind: wrote without the lock"
	expect_exit 0 timeout 20 apmatrix status > /dev/null
	rm -rf $L
done
expect_exit 0 timeout 20 apmatrix apply -q
echo OK
EOF2
	assert_success
	assert_output --partial OK
}

@test "s390 lock: the stand-in holder (s390-tools protocol) waits until apply has made all its writes" {
	in_sim "$HOSTS/seed.yaml" <<EOF2
cp "\$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
echo "delay devices/* 200" > /sys/.sim/fail
apmatrix apply > $T/out 2>&1 & ap=\$!
until grep -q . /sys/.sim/writes; do sleep 0.02; done
"$REL/s390lock" 0 $T/holder
n=\$(nwrites)
wait \$ap || die "apply: \$(cat $T/out)"
grep -q '^acquire' $T/holder || die "holder never got the lock"
[ "\$n" = 6 ] || die "the holder got the lock after \$n of 6 writes"
[ ! -e /run/lock/s390apconfig.lock ] || die "lock left"
echo OK
EOF2
	assert_success
	assert_output --partial OK
}
