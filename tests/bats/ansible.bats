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

@test "ansible: apply that finds the locks held (exit 75) is tried again and then applies; still held, the play fails naming the lock" {
	in_play <<'EOF'
hold_s390_lock
# the first apply waits its second (--wait 1), says so and gives up (75);
# the lock goes once it has ended, so the retry finds it free
(
	# (the play's first tasks take a while on a loaded machine: up to 5 minutes)
	for _ in $(seq 6000); do pgrep -f -- "apply --json --wait 1" >/dev/null && break; sleep 0.05; done
	for _ in $(seq 600); do pgrep -f -- "apply --json --wait 1" >/dev/null || break; sleep 0.05; done
	release_s390_lock
) & rel=$!
play -e apmatrix_wait=1 -e apmatrix_busy_delay=1; rc=$?
wait $rel
[ $rc = 0 ] || { show; die "the play failed: exit $rc"; }
grep -q 'FAILED - RETRYING: \[localhost\]: Apply' $OUT || { show; die "no retry"; }
[ "$(recap_changed)" -ge 1 ] || { show; die "no change reported"; }
expect_exit 0 apmatrix diff >/dev/null
# held all the time: the play fails after the retries, naming the lock and 75
printf 'version: 1\nguests: {}\n' > /etc/apmatrix.yaml; rm -rf /etc/apmatrix.d
apmatrix apply -q || die "reset"
hold_s390_lock
play -e apmatrix_wait=1 -e apmatrix_busy_delay=1 -e apmatrix_busy_retries=1; rc=$?
release_s390_lock
[ $rc != 0 ] || { show; die "the play did not fail"; }
grep -q "apmatrix apply exited 75: .*cannot take the lock /run/lock/s390apconfig.lock: process [0-9]* (sleep) holds it (waited 1 s; see --wait)" $OUT ||
	{ show; die "message"; }
[ "$(grep -c 'FAILED - RETRYING: \[localhost\]: Apply' $OUT)" = 1 ] || { show; die "retries"; }
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

@test "ansible: others' drop-ins are checked as apply reads them: a symbolic link that conflicts, or a file another user owns, fails the play before anything is written" {
	in_play <<'EOF'
mkdir -p /etc/apmatrix.d /etc/foreign
cat > /etc/foreign/40-foreign.yaml <<'EOT'
version: 1
guests:
  foreign1:
    adapters: [0x05]
    domains: [0x47]
EOT
ln -s /etc/foreign/40-foreign.yaml /etc/apmatrix.d/40-foreign.yaml
play; rc=$?
[ $rc != 0 ] || { show; die "a linked drop-in that takes payments1's queue did not fail the play"; }
grep -q "apmatrix diff exited 65" $OUT || { show; die "not failed at the plan"; }
grep -q "guest 'payments1': APQN 05.0047 already assigned to guest 'foreign1'" $OUT || { show; die "no conflict message"; }
[ ! -e /etc/apmatrix.yaml ] && [ "$(ls /etc/apmatrix.d)" = 40-foreign.yaml ] || die "files written: $(ls -la /etc/apmatrix*)"
[ "$(nwrites)" = 0 ] || die "sysfs written"
# a drop-in that a user other than root owns: apply would refuse it, so the plan does
rm /etc/apmatrix.d/40-foreign.yaml
printf 'version: 1\nguests:\n  other1:\n    adapters: [0x06]\n    domains: [0xff]\n' > /etc/apmatrix.d/45-other.yaml
chown nobody /etc/apmatrix.d/45-other.yaml
play; rc=$?
[ $rc != 0 ] || { show; die "a drop-in nobody owns did not fail the play"; }
grep -q "apmatrix diff exited" $OUT && grep -q "/etc/apmatrix.d/45-other.yaml.*owned by user 'nobody'" $OUT || { show; die "no ownership message"; }
[ ! -e /etc/apmatrix.yaml ] && [ "$(ls /etc/apmatrix.d)" = 45-other.yaml ] || die "files written: $(ls -la /etc/apmatrix*)"
[ "$(nwrites)" = 0 ] || die "sysfs written"
# root's own link is fine: the play applies it beside the role's guests
chown root /etc/apmatrix.d/45-other.yaml
mv /etc/apmatrix.d/45-other.yaml /etc/foreign/ && ln -s /etc/foreign/45-other.yaml /etc/apmatrix.d/45-other.yaml
play || { show; die "a good linked drop-in failed the play"; }
grep -q "^mdev $(uuid_of other1)" /sys/.sim/dump || die "other1 (linked drop-in) not applied"
expect_exit 0 apmatrix diff >/dev/null
echo OK
EOF
	echo "$output"
	assert_success
	assert_output --partial OK
}

@test "ansible: the play enables apmatrix-apply.service where systemd runs the host (once: the second run reports no change), and leaves it alone elsewhere or when told" {
	in_play <<'EOF'
# no /run/systemd/system (sd_booted() false): the task is skipped, the play applies
play || { show; die "first run"; }
grep -A2 '^TASK \[apmatrix : Enable apmatrix-apply.service' $OUT | grep -q '^skipping' || { show; die "enable not skipped without systemd"; }
# a host that systemd runs, with a systemctl that records what it is asked
mkdir -p /run/systemd/system $T/bin
cat > $T/bin/systemctl <<'EOT'
#!/bin/sh
echo "$*" >> /run/systemctl.log
case $1 in
show) echo "Id=apmatrix-apply.service"; echo "LoadState=loaded"; echo "ActiveState=inactive"
	[ -e /run/enabled ] && echo "UnitFileState=enabled" || echo "UnitFileState=disabled" ;;
is-enabled) if [ -e /run/enabled ]; then echo enabled; exit 0; else echo disabled; exit 1; fi ;;
enable) touch /run/enabled; echo "Created symlink /etc/systemd/system/multi-user.target.wants/$2" ;;
*) exit 1 ;;
esac
EOT
chmod 755 $T/bin/systemctl
export PATH=$T/bin:$PATH
play -e apmatrix_enable_unit=false || { show; die "enable_unit=false"; }
[ ! -e /run/systemctl.log ] || die "systemctl asked with apmatrix_enable_unit=false: $(cat /run/systemctl.log)"
play || { show; die "run with systemd"; }
[ -e /run/enabled ] || { show; die "not enabled: $(cat /run/systemctl.log)"; }
grep -qx "enable apmatrix-apply.service" /run/systemctl.log || die "systemctl: $(cat /run/systemctl.log)"
! grep -q "^start\|^restart" /run/systemctl.log || die "the unit was started: $(cat /run/systemctl.log)"
play || { show; die "second run with systemd"; }
[ "$(recap_changed)" = 0 ] || { show; die "second run reported changes"; }
[ "$(grep -c '^enable' /run/systemctl.log)" = 1 ] || die "enabled twice: $(cat /run/systemctl.log)"
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
# one line per pending action: which guest it waits for, and whether apmatrix_force helps
grep -q '"! .* (waits for web1; apmatrix_force: true does it now)"' $OUT || { show; die "pending not reported"; }
[ "$(nwrites)" = 0 ] || die "wrote to a running guest: $(cat /sys/.sim/writes)"
play -e "$less" -e apmatrix_fail_on_pending=true; rc=$?
[ $rc != 0 ] || { show; die "apmatrix_fail_on_pending did not fail"; }
grep -q "apmatrix apply exited 2" $OUT || { show; die "exit status"; }
play -e "$less" -e apmatrix_force=true; rc=$?
[ $rc = 0 ] && [ "$(recap_changed)" -ge 1 ] ||
	{ show; die "--force run: exit $rc, changed=$(recap_changed); diff --force now: $(apmatrix diff --force 2>&1)"; }
sed -n '/^mdev 5a0c1b1e/,/^[a-z]/p' /sys/.sim/dump | grep -q '05.00ff' && die "web1 not hot unplugged: $(cat /sys/.sim/dump)"
expect_exit 0 apmatrix diff >/dev/null
# web1 leaves the inventory while it runs: its mdev's removal waits for its stop, whatever the force
gone='{"apmatrix_dropins": {"50-payments": {"payments1": {"adapters": [5, 6], "domains": [0x47]}}}}'
play -e "$gone" -e apmatrix_force=true; rc=$?
[ $rc = 0 ] || { show; die "removal pending failed the play (exit $rc)"; }
grep -q '"! web1 5a0c1b1e-3f7d-4c55-9e0b-8b2d1c0e7a10: remove mdev .* (waits for 5a0c1b1e-3f7d-4c55-9e0b-8b2d1c0e7a10; done once the guest stops: apmatrix_force cannot)"' $OUT ||
	{ show; die "removal not reported as waiting for the stop"; }
[ -e /sys/devices/vfio_ap/matrix/5a0c1b1e-3f7d-4c55-9e0b-8b2d1c0e7a10 ] || die "removed a running guest's mdev"
echo OK
EOF
	echo "$output"
	assert_success
	assert_output --partial OK
}

@test "ansible: apmatrix_config and apmatrix_dropin_dir elsewhere: apply uses the files the role wrote, not /etc/apmatrix.yaml" {
	in_play <<'EOF'
# a different configuration at apmatrix's default path: apply must not read it
cat >/etc/apmatrix.yaml <<'EOT'
version: 1
guests:
  decoy1:
    adapters: [0x06]
    domains: [0xff]
EOT
cp /etc/apmatrix.yaml "$OUT.decoy"
decoy=$(uuid_of decoy1)
[ -n "$decoy" ] || die "no uuid for decoy1"
alt() { apmatrix -c /etc/apmatrix-alt.yaml --config-dir /etc/apmatrix-alt.d "$@"; }
play -e apmatrix_config=/etc/apmatrix-alt.yaml -e apmatrix_dropin_dir=/etc/apmatrix-alt.d; rc=$?
[ $rc = 0 ] || { show; die "exit $rc"; }
[ "$(recap_changed)" -ge 1 ] || { show; die "no change reported"; }
for f in /etc/apmatrix-alt.yaml /etc/apmatrix-alt.d/50-payments.yaml /etc/apmatrix-alt.d/60-web.yaml; do
	[ -f "$f" ] || die "$f not written"
done
[ ! -e /etc/apmatrix.d ] || die "/etc/apmatrix.d created: $(ls -la /etc/apmatrix.d)"
cmp -s "$OUT.decoy" /etc/apmatrix.yaml || die "/etc/apmatrix.yaml was changed"
# the host is what the role's files say: their guests, not the decoy
pay=$(alt check --json | jq -r '.guests[] | select(.name == "payments1") | .uuid')
grep -q "^mdev $pay" /sys/.sim/dump || die "payments1 not applied: $(cat /sys/.sim/dump)"
grep -q '^mdev 5a0c1b1e-3f7d-4c55-9e0b-8b2d1c0e7a10' /sys/.sim/dump || die "web1 not applied: $(cat /sys/.sim/dump)"
! grep -q "^mdev $decoy" /sys/.sim/dump || die "apply used /etc/apmatrix.yaml (decoy1 created)"
expect_exit 0 alt diff >/dev/null
clear_writes
play -e apmatrix_config=/etc/apmatrix-alt.yaml -e apmatrix_dropin_dir=/etc/apmatrix-alt.d; rc=$?
[ $rc = 0 ] && [ "$(recap_changed)" = 0 ] || { show; die "second run: exit $rc, changed=$(recap_changed)"; }
[ "$(nwrites)" = 0 ] || die "second run wrote: $(cat /sys/.sim/writes)"
echo OK
EOF
	echo "$output"
	assert_success
	assert_output --partial OK
}

@test "ansible: masks: off unquoted (YAML 1.1 false) is written as off and apmatrix leaves the masks alone; masks: on is refused" {
	cat >"$BATS_TEST_TMPDIR/masks.yml" <<'EOT'
apmatrix_host:
  keep:
    domains: [0x04]
  masks: off
EOT
	sed 's/masks: off/masks: on/' "$BATS_TEST_TMPDIR/masks.yml" >"$BATS_TEST_TMPDIR/masks-on.yml"
	in_play <<EOF
# the masks are someone else's job: give the guests' domains to vfio_ap first
for d in 0x47 0xab 0xff; do echo -\$d > /sys/bus/ap/aqmask || die "aqmask \$d"; done
clear_writes
play -e @'$BATS_TEST_TMPDIR/masks.yml'; rc=\$?
[ \$rc = 0 ] || { show; die "masks: off failed the play (exit \$rc)"; }
grep -q '^  masks: off\$' /etc/apmatrix.yaml || die "masks: off not in /etc/apmatrix.yaml: \$(cat /etc/apmatrix.yaml)"
[ "\$(apmatrix check --json | jq -r .host.masks)" = off ] ||
	die "apmatrix does not read masks off: \$(apmatrix check --json | jq -c .host)"
! grep -q 'apmask\|aqmask' /sys/.sim/writes || die "masks written with masks: off: \$(cat /sys/.sim/writes)"
grep -q '^mdev 5a0c1b1e-3f7d-4c55-9e0b-8b2d1c0e7a10' /sys/.sim/dump || die "web1 not applied: \$(cat /sys/.sim/dump)"
expect_exit 0 apmatrix diff >/dev/null
cp /etc/apmatrix.yaml $BATS_TEST_TMPDIR/main
play -e @'$BATS_TEST_TMPDIR/masks-on.yml'; rc=\$?
[ \$rc != 0 ] || { show; die "masks: on did not fail the play"; }
grep -q "apmatrix_host.masks is the boolean true.*write masks: auto" $OUT || { show; die "no message for masks: on"; }
cmp -s $BATS_TEST_TMPDIR/main /etc/apmatrix.yaml || die "/etc/apmatrix.yaml changed by the refused run"
echo OK
EOF
	echo "$output"
	assert_success
	assert_output --partial OK
}

@test "ansible: quoted guest names such as \"007\" and 'on' keep their names; unquoted ones fail the play naming the guest" {
	cat >"$BATS_TEST_TMPDIR/quoted.yml" <<'EOT'
apmatrix_dropins:
  50-odd:
    "007":
      adapters: [0x05]
      domains: [0x47]
    'on':
      adapters: [0x06]
      domains: [0xab]
EOT
	sed 's/"007"/007/; s/'"'on'"'/on/' "$BATS_TEST_TMPDIR/quoted.yml" >"$BATS_TEST_TMPDIR/unquoted.yml"
	grep -q '^    007:' "$BATS_TEST_TMPDIR/unquoted.yml" && grep -q '^    on:' "$BATS_TEST_TMPDIR/unquoted.yml"
	in_play <<EOF
play -e @'$BATS_TEST_TMPDIR/quoted.yml'; rc=\$?
[ \$rc = 0 ] || { show; die "quoted names: exit \$rc"; }
[ "\$(apmatrix check --json | jq -r '[.guests[].name] | sort | join(",")')" = "007,on" ] ||
	die "guest names: \$(apmatrix check --json | jq -c '[.guests[].name]'); \$(cat /etc/apmatrix.d/50-odd.yaml)"
for g in 007 on; do
	u=\$(uuid_of \$g)
	[ -n "\$u" ] && grep -q "^mdev \$u" /sys/.sim/dump || die "guest \$g (uuid '\$u') not applied: \$(cat /sys/.sim/dump)"
done
cp /etc/apmatrix.d/50-odd.yaml $BATS_TEST_TMPDIR/good
clear_writes
play -e @'$BATS_TEST_TMPDIR/unquoted.yml'; rc=\$?
[ \$rc != 0 ] || { show; die "unquoted 007 and on did not fail the play: \$(cat /etc/apmatrix.d/50-odd.yaml)"; }
grep -q "apmatrix_dropins\['50-odd'\]: guest name 7 (int)" $OUT || { show; die "no message naming guest 7"; }
grep -q "apmatrix_dropins\['50-odd'\]: guest name True (bool)" $OUT || { show; die "no message naming guest True"; }
grep -q 'Quote each such name in your vars' $OUT || { show; die "the message does not say to quote"; }
cmp -s $BATS_TEST_TMPDIR/good /etc/apmatrix.d/50-odd.yaml || die "the drop-in was rewritten: \$(cat /etc/apmatrix.d/50-odd.yaml)"
[ "\$(nwrites)" = 0 ] || die "sysfs written: \$(cat /sys/.sim/writes)"
echo OK
EOF
	echo "$output"
	assert_success
	assert_output --partial OK
}
