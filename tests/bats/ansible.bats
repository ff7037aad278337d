#!/usr/bin/env bats
# examples/ansible: the apmatrix role run by Debian's ansible-core against
# localhost (connection: local) on the simulated seed host (tests/lib/with-sim:
# the simulator on /sys, private /etc and /run).
load helpers

PLAYDIR=$TOP/examples/ansible

setup() {
	[ -x "$APMATRIX" ] || skip "not built"
	need_root
	command -v ansible-playbook >/dev/null || skip "ansible-playbook not installed (ansible-core)"
	OUT=$BATS_TEST_TMPDIR/play.out
}

# in_play: in_sim on the seed host (or $PLAY_TOPO), with play ARGS... defined inside: runs the
# example playbook (output in $OUT, exit status returned) and
# recap_changed printing the "changed=" count of its last recap.
in_play() {
	{
		cat <<EOT
OUT='$OUT'
export ANSIBLE_CONFIG='$PLAYDIR/ansible.cfg' ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0
export ANSIBLE_LOCAL_TEMP='$BATS_TEST_TMPDIR/ansible-local' ANSIBLE_REMOTE_TEMP='$BATS_TEST_TMPDIR/ansible-remote'
export ANSIBLE_HOME='$BATS_TEST_TMPDIR/ansible-home'
# the role's scratch directory goes here, away from other runs
export TMPDIR='$BATS_TEST_TMPDIR/tmp'
mkdir -p "\$TMPDIR"
play() { ansible-playbook -i '$PLAYDIR/inventory.yml' '$PLAYDIR/site.yml' -e apmatrix_bin='$APMATRIX' "\$@" >$OUT 2>&1; }
EOT
		cat <<'EOT'
recap_changed() { sed -n 's/^localhost *:.* changed=\([0-9]*\).*/\1/p' $OUT | tail -1; }
show() { echo "--- play output"; cat $OUT; }
scratch() { find "$TMPDIR" -maxdepth 1 -name 'apmatrix.*'; }
EOT
		cat
	} >"$BATS_TEST_TMPDIR/play-script"
	in_sim "${PLAY_TOPO:-$HOSTS/seed.yaml}" <"$BATS_TEST_TMPDIR/play-script"
}

@test "ansible: --check reports changed and writes nothing" {
	in_play <<'EOF'
play --check --diff -v; rc=$?
[ $rc = 0 ] || { show; die "check run exited $rc"; }
grep -q "\"path\": \"$TMPDIR/apmatrix\." $OUT || { show; die "the scratch directory is not in \$TMPDIR"; }
[ "$(recap_changed)" -ge 1 ] || { show; die "check mode did not report changes"; }
# the diff task itself says changed (exit status 2), not only the file tasks
grep -A1 '^TASK \[apmatrix : Plan' $OUT | grep -q '^changed: \[localhost\]' ||
	{ show; die "the plan task did not report changed"; }
grep -q 'create mdev' $OUT || { show; die "the plan is not shown"; }
[ "$(nwrites)" = 0 ] || die "check mode wrote to sysfs: $(cat /sys/.sim/writes)"
[ ! -e /etc/apmatrix.yaml ] || die "check mode wrote /etc/apmatrix.yaml"
[ ! -e /etc/apmatrix.d ] || die "check mode created /etc/apmatrix.d: $(ls -la /etc/apmatrix.d)"
[ ! -e /run/apmatrix/state ] || die "check mode recorded ownership"
[ -z "$(scratch)" ] || die "scratch directory left behind: $(scratch)"
echo OK
EOF
	echo "$output"
	assert_success
	assert_output --partial OK
}

@test "ansible: the real run writes the drop-ins and applies; the second run and --check report changed=0" {
	in_play <<'EOF'
play; rc=$?
[ $rc = 0 ] || { show; die "first run exited $rc"; }
[ "$(recap_changed)" -ge 1 ] || { show; die "first run reported no change"; }
[ "$(nwrites)" -gt 0 ] || die "nothing written to sysfs"
[ -z "$(bad_writes)" ] || die "failed writes: $(bad_writes)"
# the files, as apmatrix sees them, and the host: both guests with their queues
for f in /etc/apmatrix.yaml /etc/apmatrix.d/50-payments.yaml /etc/apmatrix.d/60-web.yaml; do
	[ -f "$f" ] || die "$f not written"
done
grep -q '^# Managed by Ansible' /etc/apmatrix.d/60-web.yaml || die "no marker"
apmatrix check >/dev/null || die "the written configuration does not check"
expect_exit 0 apmatrix diff >/dev/null
grep -q '^mdev 5a0c1b1e-3f7d-4c55-9e0b-8b2d1c0e7a10' /sys/.sim/dump || die "web1 (host_vars uuid) missing: $(cat /sys/.sim/dump)"
pay=$(uuid_of payments1)
sed -n "/^mdev $pay/,/^[a-z]/p" /sys/.sim/dump | grep -q 'matrix 05.0047 06.0047' ||
	die "payments1 lacks its queues: $(cat /sys/.sim/dump)"
sed -n '/^mdev 5a0c1b1e/,/^[a-z]/p' /sys/.sim/dump | grep -q 'control_domains 0x0004,0x00ab,0x00ff' ||
	die "web1 control domains: $(cat /sys/.sim/dump)"
# host.keep from group_vars: domain 0x04 stays with the host drivers
grep -q '^queue 05.0004 cex4queue' /sys/.sim/dump || die "kept queue taken: $(cat /sys/.sim/dump)"
clear_writes
play; rc=$?
[ $rc = 0 ] || { show; die "second run exited $rc"; }
[ "$(recap_changed)" = 0 ] || { show; die "second run is not idempotent"; }
play --check; rc=$?
[ $rc = 0 ] && [ "$(recap_changed)" = 0 ] || { show; die "check after apply: exit $rc, changed=$(recap_changed)"; }
[ "$(nwrites)" = 0 ] || die "idempotent runs wrote: $(cat /sys/.sim/writes)"
echo OK
EOF
	echo "$output"
	assert_success
	assert_output --partial OK
}

@test "ansible: a bad drop-in fails the play with apmatrix's file:line:column message, nothing written" {
	cat >"$BATS_TEST_TMPDIR/bad.yml" <<'EOT'
apmatrix_dropins:
  60-web:
    web1:
      adapters: [0x05]
      domains: ["0xab", "0x4x"]
EOT
	in_play <<EOF
play -e @'$BATS_TEST_TMPDIR/bad.yml'; rc=\$?
[ \$rc != 0 ] || { show; die "a bad drop-in did not fail the play"; }
grep -q "apmatrix diff exited 65" $OUT || { show; die "exit status not reported"; }
grep -q "/etc/apmatrix.d/60-web.yaml:[0-9]*:[0-9]*: guest 'web1': domain '0x4x'" $OUT ||
	{ show; die "no file:line:column message naming the real path"; }
! grep -q "\$TMPDIR/apmatrix\." $OUT || { show; die "the message names the scratch directory"; }
[ ! -e /etc/apmatrix.d ] && [ ! -e /etc/apmatrix.yaml ] || die "files written: \$(ls -la /etc/apmatrix*)"
[ "\$(nwrites)" = 0 ] || die "sysfs written"
# after a good run, a bad change leaves the good files and the host alone
play || { show; die "good run failed"; }
cp /etc/apmatrix.d/60-web.yaml $BATS_TEST_TMPDIR/good
clear_writes
play -e @'$BATS_TEST_TMPDIR/bad.yml'; rc=\$?
[ \$rc != 0 ] || { show; die "a bad drop-in did not fail the second play"; }
grep -q "/etc/apmatrix.d/60-web.yaml:7:[0-9]*: guest 'web1': domain '0x4x'" $OUT || { show; die "message"; }
cmp -s $BATS_TEST_TMPDIR/good /etc/apmatrix.d/60-web.yaml || die "the good drop-in was overwritten"
[ "\$(nwrites)" = 0 ] || die "sysfs written"
echo OK
EOF
	echo "$output"
	assert_success
	assert_output --partial OK
}

@test "ansible: a host that cannot apply fails the play with apmatrix's message" {
	# valid configuration, but vfio_ap is not loaded: diff exits 1
	PLAY_TOPO=$BATS_TEST_TMPDIR/novfio.yaml
	sed 's/^vfio_ap: loaded/vfio_ap: unloaded/' "$HOSTS/seed.yaml" >"$PLAY_TOPO"
	grep -q '^vfio_ap: unloaded' "$PLAY_TOPO"
	in_play <<'EOF'
play; rc=$?
[ $rc != 0 ] || { show; die "the play did not fail"; }
grep -q "apmatrix diff exited 1: apmatrix: .*vfio_ap" $OUT || { show; die "exit status or message"; }
[ ! -e /etc/apmatrix.d ] || die "files written"
[ "$(nwrites)" = 0 ] || die "sysfs written"
echo OK
EOF
	echo "$output"
	assert_success
	assert_output --partial OK
}

@test "ansible: drop-ins dropped from the inventory are removed, others' drop-ins are kept and counted" {
	in_play <<'EOF'
play || { show; die "first run"; }
cat >/etc/apmatrix.d/70-hand.yaml <<'EOT'
version: 1
guests:
  hand1:
    adapters: [0x06]
    domains: [0xab]
EOT
play -e '{"apmatrix_dropins": {"50-payments": {"payments1": {"adapters": [5, 6], "domains": [0x47]}}}}'; rc=$?
[ $rc = 0 ] || { show; die "exit $rc"; }
[ "$(recap_changed)" -ge 1 ] || { show; die "no change reported"; }
[ ! -e /etc/apmatrix.d/60-web.yaml ] || die "stale drop-in kept"
[ -f /etc/apmatrix.d/70-hand.yaml ] || die "the hand-written drop-in was removed"
! grep -q '^mdev 5a0c1b1e' /sys/.sim/dump || die "web1 still there"
grep -q "^mdev $(uuid_of hand1)" /sys/.sim/dump || die "hand1 (someone else's drop-in) not applied"
expect_exit 0 apmatrix diff >/dev/null
# apmatrix_manage_config: false leaves the administrator's main file alone
printf 'version: 1 # mine\nhost:\n  keep:\n    domains: [0x04]\n' >/etc/apmatrix.yaml
cp /etc/apmatrix.yaml "$OUT.main"
play -e apmatrix_manage_config=false; rc=$?
[ $rc = 0 ] || { show; die "manage_config=false: exit $rc"; }
cmp -s "$OUT.main" /etc/apmatrix.yaml || die "the administrator's apmatrix.yaml was changed"
expect_exit 0 apmatrix diff >/dev/null
echo OK
EOF
	echo "$output"
	assert_success
	assert_output --partial OK
}

@test "ansible: changes for a running guest stay pending (not a failure) unless asked; apmatrix_force applies them" {
	in_play <<'EOF'
play || { show; die "first run"; }
echo "attach 5a0c1b1e-3f7d-4c55-9e0b-8b2d1c0e7a10" >/sys/.sim/guest
less='{"apmatrix_dropins": {"50-payments": {"payments1": {"adapters": [5, 6], "domains": [0x47]}}, "60-web": {"web1": {"uuid": "5a0c1b1e-3f7d-4c55-9e0b-8b2d1c0e7a10", "adapters": [5], "domains": [0xab], "control-domains": [4]}}}}'
clear_writes
play -e "$less"; rc=$?
[ $rc = 0 ] || { show; die "pending failed the play (exit $rc)"; }
grep -q "pending" $OUT || { show; die "pending not reported"; }
[ "$(nwrites)" = 0 ] || die "wrote to a running guest: $(cat /sys/.sim/writes)"
play -e "$less" -e apmatrix_fail_on_pending=true; rc=$?
[ $rc != 0 ] || { show; die "apmatrix_fail_on_pending did not fail"; }
grep -q "apmatrix apply exited 2" $OUT || { show; die "exit status"; }
play -e "$less" -e apmatrix_force=true; rc=$?
[ $rc = 0 ] && [ "$(recap_changed)" -ge 1 ] ||
	{ show; die "--force run: exit $rc, changed=$(recap_changed); diff --force now: $(apmatrix diff --force 2>&1)"; }
sed -n '/^mdev 5a0c1b1e/,/^[a-z]/p' /sys/.sim/dump | grep -q '05.00ff' && die "web1 not hot unplugged: $(cat /sys/.sim/dump)"
expect_exit 0 apmatrix diff >/dev/null
echo OK
EOF
	echo "$output"
	assert_success
	assert_output --partial OK
}
