#!/usr/bin/env bats
# The applier on the simulated kernel (issue 4): bring-up, idempotence,
# convergence in an order the kernel accepts on every profile, foreign mdevs,
# running guests, mask covers, host.keep, locks.

load helpers

setup() {
	need_root
}

# seed_topo_07_0a: the seed's cards and four more (0x07-0x0a), on 6.12;
# prints the topology file's name
seed_topo_07_0a() {
	local t
	t=$(seed_topo 6.12)
	cat >>"$t" <<EOT
  - {id: 0x07, type: CEX6P, mode: ep11,  domains: [0x04, 0x47, 0xab, 0xff]}
  - {id: 0x08, type: CEX6P, mode: ep11,  domains: [0x04, 0x47, 0xab, 0xff]}
  - {id: 0x09, type: CEX6P, mode: ep11,  domains: [0x04, 0x47, 0xab, 0xff]}
  - {id: 0x0a, type: CEX6P, mode: ep11,  domains: [0x10]}
EOT
	echo "$t"
}

@test "seed bring-up: the writes the plan predicted, the seed's matrices, then 0 writes" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
predicted=$(apmatrix diff --json | jq '[.actions[].writes[]] | length')
[ "$predicted" -gt 0 ] || die "empty plan"
[ "$(nwrites)" = 0 ] || die "diff wrote"
expect_exit 0 apmatrix apply >/dev/null
[ "$(nwrites)" = "$predicted" ] || die "apply made $(nwrites) writes, plan said $predicted"
[ -z "$(bad_writes)" ] || die "failed writes: $(bad_writes)"
g1=$(uuid_of guest1); g2=$(uuid_of guest2)
[ "$(cat $(mdev_dir $g1)/matrix | tr '\n' ' ')" = "05.0004 05.00ab 06.0004 06.00ab " ] || die "guest1 matrix: $(cat $(mdev_dir $g1)/matrix)"
[ "$(cat $(mdev_dir $g2)/matrix | tr '\n' ' ')" = "05.0047 05.00ff " ] || die "guest2 matrix"
[ "$(cat $(mdev_dir $g1)/guest_matrix | tr '\n' ' ')" = "05.0004 05.00ab 06.0004 06.00ab " ] || die "guest1 guest_matrix"
clear_writes
expect_exit 0 apmatrix apply >/dev/null
[ "$(nwrites)" = 0 ] || die "second apply wrote: $(cat /sys/.sim/writes)"
expect_exit 0 apmatrix diff >/dev/null
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "under the journal (JOURNAL_STREAM names standard error): priority prefixes, no program name; elsewhere 'apmatrix:' and no prefix" {
	in_sim "$HOSTS/seed.yaml" <<'EOF2'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
printf '  guest3:\n    adapters: [0x05]\n    domains: [0x04]\n' >> /etc/apmatrix.yaml
# stderr to a file; JOURNAL_STREAM is that file's device:inode, as systemd sets it
: > $T/err
js=$(stat -c %d:%i $T/err)
JOURNAL_STREAM=$js apmatrix diff >/dev/null 2>>$T/err
grep -qx "<3>/etc/apmatrix.yaml:[0-9]*:[0-9]*: guest 'guest3': .*05.0004.*" $T/err || die "error line: $(cat $T/err)"
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
JOURNAL_STREAM=$js apmatrix -v diff >/dev/null 2>>$T/err
grep -q "^<7>host: " $T/err || die "no debug line with -v: $(cat $T/err)"
! grep -v '^<[3457]>' $T/err | grep -q . || die "a line without a priority: $(cat $T/err)"
! grep -q 'apmatrix:' $T/err || die "program name under the journal: $(cat $T/err)"
# another stream in JOURNAL_STREAM (a child's stderr redirected): no prefix, the name
printf '  guest3:\n    adapters: [0x05]\n    domains: [0x04]\n' >> /etc/apmatrix.yaml
JOURNAL_STREAM=$js apmatrix diff >/dev/null 2>$T/err2
grep -qx "apmatrix: /etc/apmatrix.yaml:[0-9]*:[0-9]*: guest 'guest3': .*05.0004.*" $T/err2 || die "not the journal: $(cat $T/err2)"
! grep -q '^<' $T/err2 || die "priority prefix off the journal: $(cat $T/err2)"
echo OK
EOF2
	assert_success
	assert_output --partial OK
}

@test "a give-back says which queues return to the host drivers, and exactly those do" {
	in_sim "$EXAMPLES/hosts/seed.yaml" <<'EOF'
host_queues() {
	find /sys/devices/ap/ -mindepth 3 -maxdepth 3 -path '/sys/devices/ap/card*/??.????/driver' -lname '*/cex4queue' |
		sed 's|.*/\(..\.....\)/driver$|\1|' | sort
}
seed_two_guests # apmask -0x05, aqmask -0x04,-0xab
printf 'version: 1\nguests: {}\n' >/etc/apmatrix.yaml
out=$(apmatrix diff)
# the apmask give-back comes first: 05.0004 and 05.00ab return only with the aqmask's
grep -qxF "~ apmask: give 0x05 back to host drivers (no declared guest needs them; 2 queues return to the host drivers: 05.0047 05.00ff)" <<<"$out" ||
	die "diff: $out"
grep -qxF "~ aqmask: give 0x04 0xab back to host drivers (no declared guest needs them; 4 queues return to the host drivers: 05.0004 05.00ab 06.0004 06.00ab)" <<<"$out" ||
	die "diff: $out"
apmatrix diff --json >$T/plan.json
host_queues >$T/before
expect_exit 0 apmatrix apply >/dev/null
host_queues >$T/after
comm -13 $T/before $T/after >$T/returned
jq -r '.actions[] | .queues[]' $T/plan.json | sort >$T/named # each queue once, in one action
[ -s $T/returned ] || die "no queue returned to the host"
cmp $T/returned $T/named || die "returned: $(tr '\n' ' ' <$T/returned); named: $(tr '\n' ' ' <$T/named)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "a mask take says how many other queues leave the host and which, and exactly those do (64 x 85 host, host.keep)" {
	in_sim "$HOSTS/large-64x85.yaml" <<'EOF'
# the host keeps domain 0x00 on every card, so the guests' domains leave
# the host on all 64 cards: 64 x 3 queues, 12 of them the guests'
cat >/etc/apmatrix.yaml <<'Y'
version: 1
host:
  keep:
    domains: ["0x00"]
guests:
  web1:
    adapters: ["0x00-0x03"]
    domains: ["0x01-0x02"]
  db1:
    adapters: ["0x00-0x03"]
    domains: ["0x03"]
Y
host_queues() { # queues bound to the host's queue driver, as the simulated kernel has them
	# one process for the 5,440 links: a shell loop forking per queue took minutes on a busy machine
	find /sys/devices/ap/ -mindepth 3 -maxdepth 3 -path '/sys/devices/ap/card*/??.????/driver' -lname '*/cex4queue' |
		sed 's|.*/\(..\.....\)/driver$|\1|' | sort
}
others="04.0001 04.0002 04.0003 05.0001 05.0002 05.0003 06.0001 06.0002 ..." # no guest has adapter 0x04 or later
line=$(apmatrix diff | grep '^~ aqmask: take ')
[ "$line" = "~ aqmask: take 0x01 0x02 0x03 from host drivers (db1, web1 need them; 180 other queues leave the host too: $others)" ] ||
	die "diff said: $line"
apmatrix diff --json >$T/plan.json
[ "$(jq -r '.actions[] | select(.kind == "take aqmask") | .reason' $T/plan.json)" = \
	"db1, web1 need them; 180 other queues leave the host too: $others" ] || die "JSON reason: $(cat $T/plan.json)"
host_queues >$T/before
expect_exit 0 apmatrix apply >/dev/null
host_queues >$T/after
[ $(($(wc -l <$T/before) - $(wc -l <$T/after))) = $((180 + 12)) ] || die "the host lost $(($(wc -l <$T/before) - $(wc -l <$T/after))) queues, not 180 + 12"
# the JSON names every queue that left the host drivers, and no other
comm -23 $T/before $T/after >$T/left
jq -r '.actions[] | select(.kind == "take aqmask") | .queues[]' $T/plan.json >$T/named
cmp $T/left $T/named || die "left the host: $(tr '\n' ' ' <$T/left); named: $(tr '\n' ' ' <$T/named)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "diff and apply --dry-run write nothing and exit 2; --shell replays to the same state" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
expect_exit 2 apmatrix diff >/dev/null
expect_exit 2 apmatrix apply --dry-run >/dev/null
expect_exit 2 apmatrix diff --json >/dev/null
apmatrix diff --shell > $T/plan.sh
[ "$(nwrites)" = 0 ] || die "dry runs wrote"
sh -e $T/plan.sh || die "the shell plan failed"
[ -z "$(bad_writes)" ] || die "shell plan writes failed"
g1=$(uuid_of guest1); g2=$(uuid_of guest2)
[ "$(cat $(mdev_dir $g1)/matrix | wc -l)" = 4 ] || die "guest1 matrix after the shell plan"
[ "$(cat $(mdev_dir $g2)/matrix | wc -l)" = 2 ] || die "guest2 matrix after the shell plan"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "--shell quotes a sysfs root (APMATRIX_SYSFS_ROOT) with a space, a quote or a \$(...): the plan writes there and runs nothing else" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
r="$T/a b'\$(touch $T/pwned)"
mkdir -p "$r/sys" && mount --bind /sys "$r/sys" || die "bind mount"
APMATRIX_SYSFS_ROOT="$r/sys" apmatrix diff --shell > $T/plan.sh
grep -qF "echo -0x05 > '$T/a b'\\''\$(touch $T/pwned)/sys'/bus/ap/apmask" $T/plan.sh || die "plan: $(cat $T/plan.sh)"
(cd $T && sh -e $T/plan.sh) || die "the shell plan failed"
[ ! -e $T/pwned ] && [ ! -e $T/a ] || die "the plan ran a command or wrote beside: $(ls $T)"
[ -z "$(bad_writes)" ] || die "shell plan writes failed"
[ "$(cat $(mdev_dir $(uuid_of guest1))/matrix | wc -l)" = 4 ] || die "guest1 matrix after the shell plan"
umount "$r/sys"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

converge() { # $1 = kernel profile
	local topo
	topo=$(seed_topo "$1")
	in_sim "$topo" <<'EOF'
cat > /etc/apmatrix.yaml <<'EOC'
version: 1
guests:
  guest1: {adapters: [0x05, 0x06], domains: [0x04, 0xab]}
  guest2: {adapters: [0x05], domains: [0x47, 0xff]}
  guest3: {adapters: [0x06], domains: [0xff]}
EOC
expect_exit 0 apmatrix apply >/dev/null
[ -z "$(bad_writes)" ] || die "bring-up: $(bad_writes)"
g1=$(uuid_of guest1); g3=$(uuid_of guest3)
# move 0x47 from guest2 to guest1 (guest1 gets 06.0047 too), drop guest3,
# add a control domain to guest2
cat > /etc/apmatrix.yaml <<'EOC'
version: 1
guests:
  guest1: {adapters: [0x05, 0x06], domains: [0x04, 0x47, 0xab]}
  guest2: {adapters: [0x05], domains: [0xff], control-domains: [0x35]}
EOC
clear_writes
expect_exit 0 apmatrix apply >/dev/null
[ -z "$(bad_writes)" ] || die "change: $(bad_writes)"
[ "$(nwrites)" -gt 0 ] || die "nothing written"
[ ! -e "$(mdev_dir $g3)" ] || [ ! -e /sys/devices/ap_matrix/matrix/$g3 ] || die "guest3's mdev still there"
apmatrix status --json | jqe '[.guests[].state] == ["matches","matches"]' >/dev/null || die "status: $(apmatrix status)"
clear_writes
expect_exit 0 apmatrix apply >/dev/null
[ "$(nwrites)" = 0 ] || die "not idempotent: $(cat /sys/.sim/writes)"
expect_exit 0 apmatrix diff >/dev/null
echo OK
EOF
}

@test "changes converge in one apply without EADDRINUSE/EBUSY: 6.0 (individual assigns)" {
	converge 6.0
	assert_success
	assert_output --partial OK
}

@test "changes converge in one apply without EADDRINUSE/EBUSY: 6.10 (ap_config)" {
	converge 6.10
	assert_success
	assert_output --partial OK
}

@test "changes converge in one apply without EADDRINUSE/EBUSY: 6.12" {
	converge 6.12
	assert_success
	assert_output --partial OK
}

@test "changes converge in one apply without EADDRINUSE/EBUSY: 5.15 (static)" {
	converge 5.15
	assert_success
	assert_output --partial OK
}

@test "changes converge in one apply: rfc2017 (per-queue reservation)" {
	converge rfc2017
	assert_success
	assert_output --partial OK
}

@test "rfc2017: a running guest (its vfio group busy) is not changed and its queues stay with the vfio driver: the change and the removal are pending, exit 2; after it stops, apply carries them out" {
	in_sim "$HOSTS/rfc2017.yaml" <<'EOF'
drv() { local l; l=$(readlink /sys/bus/ap/devices/$1/driver) && basename "$l" || echo none; }
cfg() { printf 'version: 1\nguests:\n  guest1:\n    adapters: [%s]\n    domains: [0x04]\n' "$1" > /etc/apmatrix.yaml; }
cfg "0x05, 0x06"
expect_exit 0 apmatrix apply -q
u=$(apmatrix status --json | jq -r ".guests[0].uuid")
echo "attach $u" > /sys/.sim/guest
cfg 0x05
clear_writes
expect_exit 2 apmatrix apply > $T/out 2> $T/err
[ "$(nwrites)" = 0 ] || die "wrote to a running guest's host: $(cat /sys/.sim/writes)"
grep -qF "guest1: unassign adapter 0x06 (it would lose APQN 06.0004) pending: guest is running" $T/err || die "apply: $(cat $T/err)"
[ "$(drv 06.0004)" = vfio_ap_matrix ] || die "06.0004 went to $(drv 06.0004) under the running guest"
apmatrix status > $T/out
grep -q "^guest1 .* differs, running: extra adapters 0x06" $T/out || die "status: $(cat $T/out)"
printf 'version: 1\nguests: {}\n' > /etc/apmatrix.yaml
expect_exit 2 apmatrix apply > $T/out 2> $T/err
[ "$(nwrites)" = 0 ] || die "wrote: $(cat /sys/.sim/writes)"
grep -qF "remove mdev (it would lose APQNs 05.0004 06.0004) pending: guest is running" $T/err || die "removal: $(cat $T/err)"
[ "$(drv 05.0004) $(drv 06.0004)" = "vfio_ap_matrix vfio_ap_matrix" ] || die "queues: $(drv 05.0004) $(drv 06.0004)"
echo "detach $u" > /sys/.sim/guest
expect_exit 0 apmatrix apply -q
[ "$(drv 05.0004) $(drv 06.0004)" = "cex4queue cex4queue" ] || die "after the stop: $(drv 05.0004) $(drv 06.0004)"
[ ! -e /sys/devices/ap_matrix/matrix/$u ] || die "mdev left"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

# rfc2017 queue moves are two writes (unbind from cex4queue, bind to the vfio
# driver, or back): a failed second write leaves the queue on no driver
rfc2017_halfmove_lib() {
	cat <<'EOF'
drv() { local l; l=$(readlink /sys/bus/ap/devices/$1/driver) && basename "$l" || echo none; }
one_guest() {
	cat > /etc/apmatrix.yaml <<'Y'
version: 1
guests:
  g1:
    adapters: [0x05]
    domains: [0x47]
Y
}
# 06.00ab on no driver by hand: not apmatrix's, never touched
echo 06.00ab > /sys/bus/ap/drivers/cex4queue/unbind
[ "$(drv 06.00ab)" = none ] || die "06.00ab: $(drv 06.00ab)"
untouched() { ! grep -q 06.00ab /sys/.sim/writes || die "06.00ab written: $(cat /sys/.sim/writes)"; [ "$(drv 06.00ab)" = none ] || die "06.00ab: $(drv 06.00ab)"; }
converged() {
	expect_exit 0 apmatrix diff > $T/out || die "diff: $(cat $T/out)"
	[ "$(cat $T/out)" = "0 changes" ] || die "diff: $(cat $T/out)"
	clear_writes
	expect_exit 0 apmatrix apply > /dev/null
	[ "$(nwrites)" = 0 ] || die "second apply wrote: $(cat /sys/.sim/writes)"
	untouched
}
# the take of 05.0047 fails at its bind, after the unbind went through
half_take() {
	one_guest
	echo 'bus/ap/drivers/vfio_ap_matrix/bind EIO 1' > /sys/.sim/fail
	clear_writes
	expect_exit 1 apmatrix apply > /dev/null 2> $T/err
	grep -qF "queue 05.0047: move from the host driver to vfio (g1 needs it): Input/output error; queue 05.0047 is now bound to no driver, the next apply binds it again (EIO)" $T/err ||
		die "apply's error: $(cat $T/err)"
	[ "$(drv 05.0047)" = none ] || die "05.0047 after the fault: $(drv 05.0047)"
	grep -qx 'queue 05.0047' /run/apmatrix/state || die "state forgot 05.0047: $(cat /run/apmatrix/state)"
	untouched
}
EOF
}

@test "rfc2017: a queue move whose bind to the vfio driver failed is given back with the bind to cex4queue alone once its guest is gone; a queue on no driver apmatrix did not take stays" {
	in_sim "$HOSTS/rfc2017.yaml" <<EOF
$(rfc2017_halfmove_lib)
half_take
echo 'version: 1' > /etc/apmatrix.yaml
expect_exit 2 apmatrix diff > \$T/out
grep -qxF '~ queue 05.0047: bind to the host driver (no declared guest needs it; an earlier move left it on no driver)' \$T/out ||
	die "diff: \$(cat \$T/out)"
apmatrix diff --json | jqe '[.actions[] | select(.kind == "release queue")] == [{"phase":"release mask","kind":"release queue","guest":null,"uuid":null,"pending":false,"reason":"no declared guest needs it; an earlier move left it on no driver","hot":null,"force_helps":false,"waits_for":null,"file":null,"line":null,"column":null,"text":"~ queue 05.0047: bind to the host driver (no declared guest needs it; an earlier move left it on no driver)","writes":[{"path":"bus/ap/drivers/cex4queue/bind","value":"05.0047"}],"queues":["05.0047"],"depends_on":[]}]' > /dev/null ||
	die "diff --json: \$(apmatrix diff --json)"
clear_writes
expect_exit 0 apmatrix apply > /dev/null
grep -q 'cex4queue/bind	05.0047	0' /sys/.sim/writes || die "no bind: \$(cat /sys/.sim/writes)"
! grep -q 'unbind' /sys/.sim/writes || die "an unbind: \$(cat /sys/.sim/writes)"
[ "\$(drv 05.0047)" = cex4queue ] || die "05.0047: \$(drv 05.0047)"
! grep -q '^queue' /run/apmatrix/state || die "state: \$(cat /run/apmatrix/state)"
untouched
converged
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "rfc2017: a queue move whose bind to the vfio driver failed is finished with that bind alone while its guest is declared, also after the bind fails again" {
	in_sim "$HOSTS/rfc2017.yaml" <<EOF
$(rfc2017_halfmove_lib)
half_take
expect_exit 2 apmatrix diff > \$T/out
grep -qxF '~ queue 05.0047: bind to the vfio driver (g1 needs it; an earlier move left it on no driver)' \$T/out ||
	die "diff: \$(cat \$T/out)"
apmatrix diff --json | jqe '[.actions[] | select(.kind == "take queue") | .writes] == [[{"path":"bus/ap/drivers/vfio_ap_matrix/bind","value":"05.0047"}]]' > /dev/null ||
	die "diff --json: \$(apmatrix diff --json)"
# the bind alone fails too: the queue stays apmatrix's
echo 'bus/ap/drivers/vfio_ap_matrix/bind EIO 1' > /sys/.sim/fail
expect_exit 1 apmatrix apply > /dev/null 2> \$T/err
grep -qF "queue 05.0047: bind to the vfio driver (g1 needs it; an earlier move left it on no driver): Input/output error; queue 05.0047 is now bound to no driver, the next apply binds it again (EIO)" \$T/err ||
	die "second apply's error: \$(cat \$T/err)"
grep -qx 'queue 05.0047' /run/apmatrix/state || die "state forgot 05.0047: \$(cat /run/apmatrix/state)"
clear_writes
expect_exit 0 apmatrix apply > /dev/null
grep -q 'vfio_ap_matrix/bind	05.0047	0' /sys/.sim/writes || die "no bind: \$(cat /sys/.sim/writes)"
! grep -q 'unbind' /sys/.sim/writes || die "an unbind: \$(cat /sys/.sim/writes)"
[ "\$(drv 05.0047)" = vfio_ap_matrix ] || die "05.0047: \$(drv 05.0047)"
g=\$(uuid_of g1)
[ "\$(cat /sys/devices/ap_matrix/matrix/\$g/domains)" = 0047 ] || die "g1 domains: \$(cat /sys/devices/ap_matrix/matrix/\$g/domains)"
grep -qx 'queue 05.0047' /run/apmatrix/state || die "state: \$(cat /run/apmatrix/state)"
untouched
converged
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "rfc2017: a give-back whose bind to cex4queue failed is finished with that bind alone; diff does not say 0 changes meanwhile" {
	in_sim "$HOSTS/rfc2017.yaml" <<EOF
$(rfc2017_halfmove_lib)
one_guest
expect_exit 0 apmatrix apply > /dev/null
[ "\$(drv 05.0047)" = vfio_ap_matrix ] || die "05.0047 taken: \$(drv 05.0047)"
echo 'version: 1' > /etc/apmatrix.yaml
echo 'bus/ap/drivers/cex4queue/bind EIO 1' > /sys/.sim/fail
clear_writes
expect_exit 1 apmatrix apply > /dev/null 2> \$T/err
grep -qF "queue 05.0047: give back to the host driver (no declared guest needs it): Input/output error; queue 05.0047 is now bound to no driver, the next apply binds it again (EIO)" \$T/err ||
	die "apply's error: \$(cat \$T/err)"
[ "\$(drv 05.0047)" = none ] || die "05.0047 after the fault: \$(drv 05.0047)"
untouched
expect_exit 2 apmatrix diff > \$T/out
[ "\$(cat \$T/out)" = "~ queue 05.0047: bind to the host driver (no declared guest needs it; an earlier move left it on no driver)
1 change" ] || die "diff: \$(cat \$T/out)"
clear_writes
expect_exit 0 apmatrix apply > /dev/null
[ "\$(cut -f1-3 /sys/.sim/writes)" = "bus/ap/drivers/cex4queue/bind	05.0047	0" ] || die "writes: \$(cat /sys/.sim/writes)"
[ "\$(drv 05.0047)" = cex4queue ] || die "05.0047: \$(drv 05.0047)"
! grep -q '^queue' /run/apmatrix/state || die "state: \$(cat /run/apmatrix/state)"
converged
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "ap_config: one write per mdev (6.12 at bring-up, 6.10 once an mdev shows the file); 6.0 individual assigns" {
	for k in 6.12 6.10; do
		t=$(seed_topo $k)
		in_sim "$t" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
apmatrix apply >/dev/null || die apply
[ "$(grep -c '/ap_config' /sys/.sim/writes)" = 2 ] || die "ap_config writes: $(cat /sys/.sim/writes)"
! grep -q assign_ /sys/.sim/writes || die "individual assigns"
[ "$(grep -c . /sys/.sim/writes)" = 6 ] || die "not minimal: $(cat /sys/.sim/writes)"
echo OK
EOF
		assert_success
	done
	t60=$(seed_topo 6.0)
	in_sim "$t60" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
apmatrix apply >/dev/null || die apply
! grep -q ap_config /sys/.sim/writes || die "ap_config on 6.0"
# guest1: 2 adapters + 2 domains + 2 control domains; guest2: 1 + 2 + 2
[ "$(grep -c '/assign_' /sys/.sim/writes)" = 11 ] || die "assign writes: $(grep -c /assign_ /sys/.sim/writes)"
echo OK
EOF
	assert_success
}

# renum_topo KERNEL: the seed's two cards and a third, 0x07, all with the four domains
renum_topo() {
	local f
	f=$(seed_topo "$1")
	echo "  - {id: 0x07, type: CEX5C, mode: cca,   domains: [0x04, 0x47, 0xab, 0xff]}" >> "$f"
	echo "$f"
}

@test "card renumber (adapter 0x05 replaced by 0x07): one ap_config write between the take and the give back (6.12, also --force on a running guest); 6.0 assign, then unassign" {
	for k in 6.12 6.0; do
	in_sim "$(renum_topo $k)" < <(echo "k=$k"; cat <<'EOF'
cat > /etc/apmatrix.yaml <<'Y'
version: 1
guests:
  guest1: {adapters: [0x05], domains: [0x04, 0xab]}
  guest2: {adapters: [0x06], domains: [0x47]}
Y
expect_exit 0 apmatrix apply >/dev/null
g1=$(uuid_of guest1); g2=$(uuid_of guest2)
m2=$(cat $(mdev_dir $g2)/matrix)
ff=ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff # 62 digits
aq=$(cat /sys/bus/ap/aqmask) # 0x47: guest2's domain (and guest1 needs adapter 0x05 alone)
[ "$aq" = "0x${ff:0:16}fe${ff:0:46}" ] || die "aqmask before: $aq"
for running in "" yes; do
	from=05 to=07 before=fb after=fe
	[ -n "$running" ] && from=07 to=05 before=fe after=fb
	[ "$(cat /sys/bus/ap/apmask)" = "0x$before$ff" ] || die "apmask before: $(cat /sys/bus/ap/apmask)"
	sed -i "s/guest1: {adapters: \[0x$from\]/guest1: {adapters: [0x$to]/" /etc/apmatrix.yaml
	force= want="bus/ap/apmask -0x$to ap_config bus/ap/apmask +0x$from "
	if [ -n "$running" ]; then
		echo "attach $g1" > /sys/.sim/guest
		clear_writes
		expect_exit 2 apmatrix apply > $T/out
		# the matrix change and the give back wait for the guest, and so does
		# the take, which only they need: the host keeps adapter $to meanwhile
		[ "$(nwrites)" = 0 ] || die "running, no --force: $(cat /sys/.sim/writes)"
		grep -qxF "! apmask: take 0x$to from host drivers pending: waits for 'guest1' (running)" <(apmatrix diff 2>/dev/null) ||
			die "running, no --force: $(apmatrix diff 2>&1)"
		force=--force
	fi
	# 6.0: the new adapter first, the old one after it, as ap_config does in one write
	[ $k = 6.0 ] && want="bus/ap/apmask -0x$to assign_adapter unassign_adapter bus/ap/apmask +0x$from "
	[ $k = 6.12 ] && apmatrix diff $force --json > $T/plan
	clear_writes
	expect_exit 0 apmatrix apply $force >/dev/null
	[ -z "$(bad_writes)" ] || die "failed writes: $(bad_writes)"
	# in this order; on 6.12 one ap_config write
	got=$(awk -F'\t' '$1 ~ /^devices\// { sub(/.*\//, "", $1); print $1; next } { print $1, $2 }' /sys/.sim/writes | tr '\n' ' ')
	[ "$got" = "$want" ] || die "$k${running:+ running}: writes '$got', want '$want': $(cat /sys/.sim/writes)"
	if [ $k = 6.12 ]; then
		jqe '(.actions | map(select(.kind == "write ap_config")) | length == 1) and
		     ([.actions[] | select(.kind == "release apmask")][0] as $r | [$r.depends_on[] as $i | .actions[$i].kind] | index("write ap_config") != null)' \
			< $T/plan >/dev/null || die "the give back does not wait for the one matrix write: $(cat $T/plan)"
	fi
	[ "$(cat $(mdev_dir $g1)/matrix | tr '\n' ' ')" = "$to.0004 $to.00ab " ] || die "guest1 matrix: $(cat $(mdev_dir $g1)/matrix)"
	[ "$(cat $(mdev_dir $g1)/guest_matrix | tr '\n' ' ')" = "$to.0004 $to.00ab " ] || die "guest1 guest_matrix: $(cat $(mdev_dir $g1)/guest_matrix)"
	[ "$(cat $(mdev_dir $g2)/matrix)" = "$m2" ] || die "guest2 changed"
	# adapter $to left the host, $from is the host's again; the aqmask did not change
	[ "$(cat /sys/bus/ap/apmask)" = "0x$after$ff" ] || die "apmask after: $(cat /sys/bus/ap/apmask)"
	[ "$(cat /sys/bus/ap/aqmask)" = "$aq" ] || die "aqmask after: $(cat /sys/bus/ap/aqmask)"
	apmatrix status --json | jqe ".taken.apmask == [$((10#$to))] and .taken.aqmask == [71]" >/dev/null ||
		die "taken: $(apmatrix status --json | jq -c .taken)"
	clear_writes
	expect_exit 0 apmatrix apply $force >/dev/null
	[ "$(nwrites)" = 0 ] || die "second apply wrote: $(cat /sys/.sim/writes)"
	[ -n "$running" ] && echo "detach $g1" > /sys/.sim/guest
done
echo OK
EOF
)
	assert_success
	assert_output --partial OK
	done
}

@test "a change that waits for the running mdev of a guest no longer declared names that guest and the mdev (text, --json, apply)" {
	in_sim "$(seed_topo 6.12)" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
apmatrix apply >/dev/null || die "bring-up"
g2=$(uuid_of guest2)
echo "attach $g2" > /sys/.sim/guest
# guest2 is dropped while it runs; guest3 wants its 05.0047
cat > /etc/apmatrix.yaml <<'Y'
version: 1
guests:
  guest1: {adapters: [0x05, 0x06], domains: [0x04, 0xab]}
  guest3: {adapters: [0x05], domains: [0x47]}
Y
g3=$(uuid_of guest3)
why="waits for guest 'guest2', no longer declared (mdev $g2, running)"
expect_exit 2 apmatrix diff > $T/text
grep -qxF "! guest3 ${g3:0:8}...: set matrix: adapters 0x05, domains 0x47, control domains 0x47 (it would gain APQN 05.0047) pending: $why" $T/text ||
	die "diff: $(cat $T/text)"
expect_exit 2 apmatrix diff --json > $T/doc
jqe "[.actions[] | select(.guest == \"guest3\" and .kind == \"write ap_config\")] | length == 1 and .[0].reason == \"$why\" and .[0].waits_for == \"$g2\"" \
	< $T/doc >/dev/null || die "JSON: $(jq -c '.actions' < $T/doc)"
expect_exit 2 apmatrix apply > $T/out 2> $T/err
grep -qF "pending: $why" $T/err || die "apply: $(cat $T/err)"
grep -q "'$g2'" $T/err && die "named by the UUID alone: $(cat $T/err)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "a foreign mdev with a conflicting APQN is never written to; apply exits 1 and names it" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
F=7d1c0000-0000-4000-8000-000000000001
echo -0x05 > /sys/bus/ap/apmask
echo $F > /sys/devices/vfio_ap/matrix/mdev_supported_types/vfio_ap-passthrough/create
echo 0x05 > $(mdev_dir $F)/assign_adapter
echo 0x47 > $(mdev_dir $F)/assign_domain
clear_writes
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
apmatrix apply > $T/out 2> $T/err; rc=$?
[ $rc = 1 ] || die "exit $rc"
grep -q "guest 'guest2': APQN 05.0047 is assigned to mdev $F (not managed by apmatrix)" $T/err || die "message: $(cat $T/err)"
! grep -q "$F" /sys/.sim/writes || die "foreign mdev written: $(grep $F /sys/.sim/writes)"
[ "$(cat $(mdev_dir $F)/matrix)" = "05.0047" ] || die "foreign mdev changed"
g1=$(uuid_of guest1)
[ "$(cat $(mdev_dir $g1)/matrix | wc -l)" = 4 ] || die "guest1 not brought up"
[ -z "$(bad_writes)" ] || die "failed writes: $(bad_writes)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "a running guest is not stripped without --force; with --force it is changed by hot plug" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
apmatrix apply >/dev/null || die "bring-up"
g2=$(uuid_of guest2)
echo "attach $g2" > /sys/.sim/guest
sed -i 's/domains: \[0x47, 0xff\]/domains: [0x47]/' /etc/apmatrix.yaml
grep -q 'domains: \[0x47\]' /etc/apmatrix.yaml || die "config edit"
clear_writes
apmatrix apply > $T/out 2> $T/err; rc=$?
[ $rc = 2 ] || die "exit $rc: $(cat $T/err)"
grep -q "guest2.*pending" $T/err || die "no pending message: $(cat $T/err)"
grep -q "^0 changes applied, 1 pending (a guest is running; use --force)\$" $T/out || die "summary: $(cat $T/out)"
[ "$(nwrites)" = 0 ] || die "wrote to a running guest: $(cat /sys/.sim/writes)"
grep -q 05.00ff $(mdev_dir $g2)/matrix || die "stripped"
expect_exit 2 apmatrix diff >/dev/null
expect_exit 0 apmatrix apply --force >/dev/null
! grep -q 05.00ff $(mdev_dir $g2)/matrix || die "--force did not change it"
! grep -q 05.00ff $(mdev_dir $g2)/guest_matrix || die "guest still sees 05.00ff"
[ -z "$(bad_writes)" ] || die "failed writes: $(bad_writes)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

# card06_later: the start of an in_sim script for the two "is not lost"
# tests and the one of a failure in the last round: on 5.15, which cannot
# assign absent queues, card 06 is unplugged, so guest1 (adapters 05 and 06)
# waits for it; guest2 (adapter 05) does not.  g1 and g2 are their mdevs'
# UUIDs.
card06_later() {
	cat <<'EOF'
echo vfio_ap > /sys/.sim/modprobe
echo 'remove 0x06' > /sys/.sim/hotplug || die unplug
cat >/etc/apmatrix.yaml <<'Y'
version: 1
guests:
  guest1:
    adapters: [0x05, 0x06]
    domains: [0x04]
  guest2:
    adapters: [0x05]
    domains: [0x47]
Y
g1=$(uuid_of guest1); g2=$(uuid_of guest2)
EOF
}

@test "a card that comes while apply reads the host is not lost: a run with nothing to write plans once more" {
	in_sim "$HOSTS/static-5.15.yaml" < <(card06_later; cat <<'EOF2'
expect_exit 1 apmatrix apply >/dev/null 2>$T/err
grep -q "guest 'guest1': APQN 06.0004 does not exist on this host" $T/err || die "first run: $(cat $T/err)"
[ ! -e /sys/devices/vfio_ap/matrix/$g1 ] || die "guest1 created without its card"
# nothing to write now; card 06 comes while apply reads guest2's mdev, after
# it read the cards: the plan has nothing, the kernel's uevent number moved
clear_writes
echo "rdelay devices/vfio_ap/matrix/$g2/matrix 3000" > /sys/.sim/fail
apmatrix apply > $T/out 2> $T/err & pid=$!
wait_fired "apply never read guest2's matrix"
echo '- {id: 0x06, type: CEX5A, mode: accel, domains: [0x04, 0x47]}' > /sys/.sim/hotplug || die plug
wait $pid; rc=$?
[ $rc = 0 ] || die "apply exit $rc: $(cat $T/err) $(cat $T/out)"
grep -qx "apmatrix: the host changed while apply read it; planning once more" $T/err || die "no second round: $(cat $T/err)"
grep -q "/create" /sys/.sim/writes || die "guest1 not created: $(cat /sys/.sim/writes)"
[ "$(cat /sys/devices/vfio_ap/matrix/$g1/matrix | tr '\n' ' ')" = "05.0004 06.0004 " ] || die "guest1 matrix"
! grep -q "left out" $T/out || die "summary: $(cat $T/out)"
expect_exit 0 apmatrix diff >/dev/null
echo OK
EOF2
)
	assert_success
	assert_output --partial OK
}

@test "a card that comes while apply writes is not lost: a guest its absence left out is verified and applied in the same run" {
	in_sim "$HOSTS/static-5.15.yaml" < <(card06_later; cat <<'EOF2'
# guest1 is left out (card 06 absent on 5.15); card 06 comes while guest2's
# last write waits: the start request its uevents make would be merged
# into this run, so the run itself must notice.  On 5.15 without an mdev
# apply creates first and reads the host again before the assigns, so the
# card comes after guest2's assign_domain (a write of that second read's
# plan), not after the create (too early under valgrind: the second read
# then saw the card).
clear_writes
echo "delay devices/vfio_ap/matrix/$g2/assign_control_domain 3000" > /sys/.sim/fail
apmatrix apply --json > $T/out 2> $T/err & pid=$!
for ((i = 0; i < 1200; i++)); do grep -q "$g2/assign_domain" /sys/.sim/writes && break; sleep 0.05; done
grep -q "$g2/assign_domain" /sys/.sim/writes || die "apply never assigned guest2's domain: $(cat /sys/.sim/writes)"
echo '- {id: 0x06, type: CEX5A, mode: accel, domains: [0x04, 0x47]}' > /sys/.sim/hotplug || die plug
wait $pid; rc=$?
echo clear > /sys/.sim/fail
[ $rc = 0 ] || die "apply exit $rc: $(cat $T/err) $(cat $T/out)"
grep -qx "apmatrix: the host changed while applying; planning once more" $T/err || die "no second round: $(cat $T/err)"
[ "$(cat /sys/devices/vfio_ap/matrix/$g1/matrix | tr '\n' ' ')" = "05.0004 06.0004 " ] || die "guest1 matrix"
# the error of the first round is in the document; guest1 is not left out
jqe '.left_out == [] and .failed == 0 and ([.diagnostics[] | select(.severity == "error" and .guest == "guest1")] | length) >= 1' < $T/out >/dev/null ||
	die "JSON: $(cat $T/out)"
expect_exit 0 apmatrix diff >/dev/null
echo OK
EOF2
)
	assert_success
	assert_output --partial OK
}

# rdelays_left: the start of an in_sim script that times host changes with
# rdelay rules: rdelays_left N waits until N of them are left, i.e. the read
# that the one before delays is now waiting.
rdelays_left() {
	cat <<'EOF'
rdelays_left() {
	for ((i = 0; i < 600; i++)); do [ "$(grep -c '^rdelay ' /sys/.sim/fail)" = "$1" ] && return 0; sleep 0.05; done
	die "apply never read again: $(cat /sys/.sim/fail)"
}
EOF
}

@test "a guest that fails in apply's last round still gets the round that gives back what the run took for it" {
	in_sim "$HOSTS/static-5.15.yaml" < <(card06_later; rdelays_left; cat <<'EOF2'
expect_exit 1 apmatrix apply >/dev/null 2>$T/err
# three host changes, each while apply reads guest2's mdev (after the
# cards): three rounds write nothing and plan once more; the third change is
# card 06, which lets guest1 in, in the last of the four rounds a run plans;
# the take of 0x06 goes through, guest1's create fails
clear_writes
printf '%s\n' "rdelay devices/vfio_ap/matrix/$g2/matrix 3000" "rdelay devices/vfio_ap/matrix/$g2/matrix 3000" \
	"rdelay devices/vfio_ap/matrix/$g2/matrix 3000" "devices/vfio_ap/matrix/mdev_supported_types/*/create EIO 1" > /sys/.sim/fail
apmatrix apply --json > $T/out 2> $T/err & pid=$!
rdelays_left 2
echo '- {id: 0x09, type: CEX5A, mode: accel, domains: [0x04, 0x47]}' > /sys/.sim/hotplug || die "plug 0x09"
rdelays_left 1
echo 'remove 0x09' > /sys/.sim/hotplug || die "unplug 0x09"
rdelays_left 0
echo '- {id: 0x06, type: CEX5A, mode: accel, domains: [0x04, 0x47]}' > /sys/.sim/hotplug || die "plug 0x06"
wait $pid; rc=$?
echo clear > /sys/.sim/fail
[ $rc = 1 ] || die "apply exit $rc: $(cat $T/err)"
[ "$(grep -cx "apmatrix: the host changed while apply read it; planning once more" $T/err)" = 3 ] ||
	die "not three rounds that wrote nothing: $(cat $T/err)"
grep -qx "devices/vfio_ap/matrix/mdev_supported_types/vfio_ap-passthrough/create	$g1	EIO" /sys/.sim/writes ||
	die "no failed create: $(cat /sys/.sim/writes)"
grep -qx "bus/ap/apmask	-0x06	0" /sys/.sim/writes || die "no take: $(cat /sys/.sim/writes)"
grep -qx "bus/ap/apmask	+0x06	0" /sys/.sim/writes || die "the take of 0x06 kept after the last round: $(cat /sys/.sim/writes)"
jqe '.failed == 1 and ([.actions[] | select(.outcome == "failed")] | length == 1 and .[0].round == 4) and
	([.actions[] | select(.kind == "release apmask")] | length == 1 and .[0].round == 5 and .[0].outcome == "done")' $T/out >/dev/null ||
	die "JSON: $(jq -c '[.actions[] | [.guest, .kind, .outcome, .round]]' $T/out)"
# the host has card 06 as before the run
[ "$(ls -d /sys/bus/ap/drivers/cex4queue/06.* | wc -l)" = 2 ] || die "host queues: $(ls /sys/bus/ap/drivers/cex4queue)"
expect_exit 0 apmatrix apply >/dev/null
[ "$(cat $(mdev_dir $g1)/matrix | tr '\n' ' ')" = "05.0004 06.0004 " ] || die "guest1 matrix"
echo OK
EOF2
)
	assert_success
	assert_output --partial OK
}

# last_round_moves CHANGE [AFTER]: the start of an in_sim script: the seed
# guests on 5.15, converged; then four host changes, each while apply --json
# (in the background, $pid, output in $T/out and $T/err) reads guest2's mdev,
# so that every round of the four a run plans writes nothing and the host
# moved in each: card 0x09 (no guest's) plugged, unplugged, plugged, and last
# CHANGE; and AFTER, if given, while the read after the last round reads it.
# JSON (default --json) is apply's option for its output
last_round_moves() {
	rdelays_left
	printf 'last_change=%q after=%q json=%q\n' "$1" "${2-}" "${JSON---json}"
	cat <<'EOF'
echo vfio_ap > /sys/.sim/modprobe
cat >/etc/apmatrix.yaml <<'Y'
version: 1
guests:
  guest1:
    adapters: [0x05, 0x06]
    domains: [0x04]
  guest2:
    adapters: [0x05]
    domains: [0x47]
Y
expect_exit 0 apmatrix apply -q
g2=$(uuid_of guest2)
clear_writes
n=4
[ -z "$after" ] || n=5
for ((i = 0; i < n; i++)); do echo "rdelay devices/vfio_ap/matrix/$g2/matrix 3000"; done > /sys/.sim/fail
apmatrix -v apply $json > $T/out 2> $T/err & pid=$!
rdelays_left $((n - 1))
echo '- {id: 0x09, type: CEX5A, mode: accel, domains: [0x04, 0x47]}' > /sys/.sim/hotplug || die "plug 0x09"
rdelays_left $((n - 2))
echo 'remove 0x09' > /sys/.sim/hotplug || die "unplug 0x09"
rdelays_left $((n - 3))
echo '- {id: 0x09, type: CEX5A, mode: accel, domains: [0x04, 0x47]}' > /sys/.sim/hotplug || die "plug 0x09 again"
rdelays_left $((n - 4))
eval "$last_change" || die "last change: $last_change"
if [ -n "$after" ]; then
	rdelays_left 0
	eval "$after" || die "change after the last round: $after"
fi
wait $pid; rc=$?
echo clear > /sys/.sim/fail
# no "planning once more" that is not done
[ "$(grep -cx "apmatrix: the host changed while apply read it; planning once more" $T/err)" = 3 ] ||
	die "not three rounds planned once more: $(cat $T/err)"
grep -qx "apmatrix: the host changed while apply's last round read it; reading it once more" $T/err ||
	die "no read after the last round: $(cat $T/err) $(cat $T/out) $(cat /sys/.sim/writes)"
msg="the host changed again during apply's last round: apply did not plan for that change; run apmatrix apply again"
EOF
}

@test "a host that changes while apply's last round reads it, in a way that asks for nothing (the kernel's uevent number is the whole machine's): one more read, and apply ends as done, exit 0" {
	in_sim "$HOSTS/static-5.15.yaml" < <(last_round_moves "echo 'remove 0x09' > /sys/.sim/hotplug"; cat <<'EOF2'
[ $rc = 0 ] || die "apply exit $rc: $(cat $T/err)"
! grep -q "did not plan" $T/err || die "said: $(cat $T/err)"
jqe '.done == 0 and .failed == 0 and .pending == 0 and ([.diagnostics[] | select(.severity == "error")] | length == 0)' $T/out >/dev/null ||
	die "JSON: $(cat $T/out)"
[ "$(nwrites)" = 0 ] || die "writes: $(cat /sys/.sim/writes)"
expect_exit 0 apmatrix diff >/dev/null
echo OK
EOF2
)
	assert_success
	assert_output --partial OK
}

@test "a host that changes again while apply reads it after its last round, and that read asks for nothing: apply ends as done, exit 0, not 75" {
	in_sim "$HOSTS/static-5.15.yaml" < <(last_round_moves "echo 'remove 0x09' > /sys/.sim/hotplug" \
		"echo '- {id: 0x09, type: CEX5A, mode: accel, domains: [0x04, 0x47]}' > /sys/.sim/hotplug"; cat <<'EOF2'
[ $rc = 0 ] || die "apply exit $rc: $(cat $T/err)"
! grep -q "did not plan" $T/err || die "said: $(cat $T/err)"
jqe '.done == 0 and .failed == 0 and .pending == 0 and ([.diagnostics[] | select(.severity == "error")] | length == 0)' $T/out >/dev/null ||
	die "JSON: $(cat $T/out)"
[ "$(nwrites)" = 0 ] || die "writes: $(cat /sys/.sim/writes)"
[ -e /sys/bus/ap/devices/card09 ] || die "card 09 not plugged"
expect_exit 0 apmatrix diff >/dev/null
echo OK
EOF2
)
	assert_success
	assert_output --partial OK
}

@test "a host that changes while apply's last round reads it, in a way that asks for changes: apply says it did not plan for that change and exits 75, not 0; the next run makes them" {
	# the last change gives adapter 0x05 back to the host drivers by hand (5.15
	# lets it, and takes its queues from the guests' mdevs), so the read after
	# the last round plans to take it again
	in_sim "$HOSTS/static-5.15.yaml" < <(last_round_moves "echo +0x05 > /sys/bus/ap/apmask"; cat <<'EOF2'
[ $rc = 75 ] || die "apply exit $rc: $(cat $T/err) $(cat $T/out) $(cat /sys/.sim/writes)"
grep -qx "apmatrix: $msg" $T/err || die "no message: $(cat $T/err)"
grep -qx "apmatrix: the read after the last round has [0-9]* changes\? to make: not made" $T/err ||
	die "no changes found: $(cat $T/err)"
MSG=$msg jqe '.done == 0 and .failed == 0 and .pending == 0 and
	.diagnostics == [{"severity": "error", "file": null, "line": null, "column": null, "guest": null, "message": env.MSG}]' $T/out >/dev/null ||
	die "JSON: $(cat $T/out)"
# only the hand's write
[ "$(cat /sys/.sim/writes)" = "$(printf 'bus/ap/apmask\t+0x05\t0')" ] || die "writes: $(cat /sys/.sim/writes)"
expect_exit 2 apmatrix diff >/dev/null
expect_exit 0 apmatrix apply -q
expect_exit 0 apmatrix diff >/dev/null
[ -e /sys/bus/ap/drivers/vfio_ap/05.0047 ] || die "05.0047 not back with vfio_ap: $(ls /sys/bus/ap/drivers/vfio_ap)"
echo OK
EOF2
)
	assert_success
	assert_output --partial OK
}

@test "a host that changes while apply's last round reads it, in a way that asks for changes, and nothing was done: no summary '0 changes' on stdout after the error (exit 75)" {
	in_sim "$HOSTS/static-5.15.yaml" < <(JSON= last_round_moves "echo +0x05 > /sys/bus/ap/apmask"; cat <<'EOF2'
[ $rc = 75 ] || die "apply exit $rc: $(cat $T/err) $(cat $T/out)"
grep -qx "apmatrix: $msg" $T/err || die "no message: $(cat $T/err)"
[ ! -s $T/out ] || die "stdout: $(cat $T/out)"
echo OK
EOF2
)
	assert_success
	assert_output --partial OK
}

@test "a host changed by another tool while apply's last round writes: apply says it did not plan for that change and exits 75, not 0" {
	in_sim "$HOSTS/static-5.15.yaml" < <(card06_later; rdelays_left; cat <<'EOF2'
expect_exit 1 apmatrix apply >/dev/null 2>$T/err
# three host changes while apply reads guest2's mdev, as in the test of a
# failure in the last round: the third, card 06, lets guest1 in, in the
# last of the four rounds a run plans; while it assigns guest1's domain,
# another tool takes adapter 05 from guest2's mdev
clear_writes
printf '%s\n' "rdelay devices/vfio_ap/matrix/$g2/matrix 3000" "rdelay devices/vfio_ap/matrix/$g2/matrix 3000" \
	"rdelay devices/vfio_ap/matrix/$g2/matrix 3000" "wdelay devices/vfio_ap/matrix/$g1/assign_domain 3000" > /sys/.sim/fail
apmatrix apply --json > $T/out 2> $T/err & pid=$!
rdelays_left 2
echo '- {id: 0x09, type: CEX5A, mode: accel, domains: [0x04, 0x47]}' > /sys/.sim/hotplug || die "plug 0x09"
rdelays_left 1
echo 'remove 0x09' > /sys/.sim/hotplug || die "unplug 0x09"
rdelays_left 0
echo '- {id: 0x06, type: CEX5A, mode: accel, domains: [0x04, 0x47]}' > /sys/.sim/hotplug || die "plug 0x06"
wait_fired "apply never assigned guest1's domain"
echo 0x05 > $(mdev_dir $g2)/unassign_adapter || die "unassign by hand"
wait $pid; rc=$?
echo clear > /sys/.sim/fail
[ $rc = 75 ] || die "apply exit $rc: $(cat $T/err)"
[ "$(grep -cx "apmatrix: the host changed while apply read it; planning once more" $T/err)" = 3 ] ||
	die "not three rounds that wrote nothing: $(cat $T/err)"
! grep -q "the host changed while applying; planning once more" $T/err || die "said it plans once more: $(cat $T/err)"
msg="the host changed again during apply's last round: apply did not plan for that change; run apmatrix apply again"
grep -qx "apmatrix: $msg" $T/err || die "no message: $(cat $T/err)"
MSG=$msg jqe '.failed == 0 and ([.actions[] | select(.guest == "guest1" and .outcome == "done")] | length > 0 and all(.round == 4)) and
	([.diagnostics[] | select(.message == env.MSG and .severity == "error")] | length == 1)' $T/out >/dev/null ||
	die "JSON: $(cat $T/out)"
[ "$(cat $(mdev_dir $g1)/matrix | tr '\n' ' ')" = "05.0004 06.0004 " ] || die "guest1 matrix"
# the next run gives guest2 its adapter back
expect_exit 0 apmatrix apply -q
[ "$(cat $(mdev_dir $g2)/matrix | tr '\n' ' ')" = "05.0047 " ] || die "guest2 matrix"
echo OK
EOF2
)
	assert_success
	assert_output --partial OK
}

@test "mdevs created first on a host whose interface an mdev tells, in apply's last round, still get the round that assigns them" {
	# 5.15 with vfio_ap not loaded: three host changes while apply reads the
	# bus, the third loads vfio_ap; the fourth round is the first that can
	# create the mdevs, and with none on the host yet (live.h,
	# profile_certain) it creates them first
	in_sim "$HOSTS/static-5.15.yaml" < <(rdelays_left; cat <<'EOF2'
cat >/etc/apmatrix.yaml <<'Y'
version: 1
guests:
  guest1:
    adapters: [0x05, 0x06]
    domains: [0x04]
  guest2:
    adapters: [0x05]
    domains: [0x47]
Y
for i in 1 2 3; do echo "rdelay bus/ap/ap_max_domain_id 3000"; done > /sys/.sim/fail
apmatrix apply --json > $T/out 2> $T/err & pid=$!
rdelays_left 2
echo '- {id: 0x09, type: CEX5A, mode: accel, domains: [0x04, 0x47]}' > /sys/.sim/hotplug || die "plug 0x09"
rdelays_left 1
echo 'remove 0x09' > /sys/.sim/hotplug || die "unplug 0x09"
rdelays_left 0
echo vfio_ap > /sys/.sim/modprobe || die "modprobe"
wait $pid; rc=$?
echo clear > /sys/.sim/fail
[ $rc = 0 ] || die "apply exit $rc: $(cat $T/err)"
[ "$(grep -cx "apmatrix: the host changed while apply read it; planning once more" $T/err)" = 3 ] ||
	die "not three rounds that wrote nothing: $(cat $T/err)"
g1=$(uuid_of guest1); g2=$(uuid_of guest2)
[ "$(cat $(mdev_dir $g1)/matrix | tr '\n' ' ')" = "05.0004 06.0004 " ] || die "guest1 matrix: $(cat $(mdev_dir $g1)/matrix)"
[ "$(cat $(mdev_dir $g2)/matrix | tr '\n' ' ')" = "05.0047 " ] || die "guest2 matrix: $(cat $(mdev_dir $g2)/matrix)"
jqe '([.actions[] | select(.kind == "create mdev")] | length == 2 and all(.round == 4)) and
	([.actions[] | select(.kind | startswith("assign"))] | length == 7 and all(.round == 5 and .outcome == "done"))' $T/out >/dev/null ||
	die "JSON: $(jq -c '[.actions[] | [.guest, .kind, .outcome, .round]]' $T/out)"
expect_exit 0 apmatrix apply -q
echo OK
EOF2
)
	assert_success
	assert_output --partial OK
}

@test "when the host changes while apply works, a change held back for a running guest is said once, in text and JSON" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
apmatrix apply >/dev/null || die "bring-up"
g1=$(uuid_of guest1); g2=$(uuid_of guest2)
echo "attach $g2" > /sys/.sim/guest
# guest2 (running) loses 0xff: held back; guest3 is new
sed -i 's/domains: \[0x47, 0xff\]/domains: [0x47]/' /etc/apmatrix.yaml
printf '  guest3:\n    adapters: [0x06]\n    domains: [0x47]\n' >> /etc/apmatrix.yaml
g3=$(uuid_of guest3)
for json in "" --json; do
	# another tool takes adapter 0x06 from guest1 after apply read the
	# host and before it verifies: guest3's configuration write waits 1.5 s
	clear_writes
	echo "delay devices/vfio_ap/matrix/$g3/ap_config 1500" > /sys/.sim/fail
	apmatrix apply $json > $T/out 2> $T/err & pid=$!
	for ((i = 0; i < 300; i++)); do grep -q /create /sys/.sim/writes && break; sleep 0.05; done
	echo 0x06 > $(mdev_dir $g1)/unassign_adapter || die "the other tool's write"
	wait $pid; rc=$?
	echo clear > /sys/.sim/fail
	[ $rc = 2 ] || die "apply $json: exit $rc: $(cat $T/err)"
	grep -qx "apmatrix: the host changed while applying; planning once more" $T/err || die "no second round: $(cat $T/err)"
	grep -qx 06.0004 $(mdev_dir $g1)/matrix || die "guest1 not repaired in the same run"
	if [ -n "$json" ]; then
		jqe '[.actions[] | select(.outcome == "pending")] | length == 1 and .[0].guest == "guest2"' < $T/out >/dev/null ||
			die "JSON pending actions: $(jq -c '[.actions[] | select(.outcome == "pending")]' < $T/out)"
		jqe '.pending == 1 and .done == 3 and ([.actions[].round] | max) == 2' < $T/out >/dev/null ||
			die "JSON counts: $(jq -c '{done, pending}' < $T/out)"
	else
		grep -qx "4 changes applied, 1 pending (a guest is running; use --force)" $T/out || die "summary: $(cat $T/out)"
		echo 1 > $(mdev_dir $g3)/remove # the --json run creates it again (the aqmask stays taken: 3 changes)
	fi
	[ "$(grep -c "guest2 .*pending" $T/err)" = 1 ] ||
		die "apply $json: the held-back change said $(grep -c "guest2 .*pending" $T/err) times: $(cat $T/err)"
done
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "--force on a running guest: each change says hot plug or hot unplug (text and --json), 6.0 and 6.12; without --force they are pending" {
	for k in 6.0 6.12; do
	in_sim "$(seed_topo $k)" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
apmatrix apply >/dev/null || die "bring-up"
g2=$(uuid_of guest2)
echo "attach $g2" > /sys/.sim/guest
sed -i 's/adapters: \[0x05\]$/adapters: [0x05, 0x06]/; s/domains: \[0x47, 0xff\]/domains: [0x47]/' /etc/apmatrix.yaml
apmatrix diff --json > $T/doc; [ $? = 2 ] || die "diff: exit $?"
# pending: what --force would do, and that it would (force_helps), without the prose
jqe '[.actions[] | select(.guest == "guest2")] | length > 0 and all(.pending and .hot != null and .force_helps and .waits_for == "guest2")' < $T/doc >/dev/null ||
	die "diff: $(cat $T/doc)"
apmatrix diff --force > $T/text
apmatrix diff --force --json > $T/doc
# what guest2 gets and loses, one word per action, in plan order
jq -r '.actions[] | select(.guest == "guest2") | .hot' < $T/doc | sort | uniq -c | tr -s ' ' > $T/hot
clear_writes
expect_exit 0 apmatrix apply --force --json > $T/done
jqe '[.actions[] | select(.guest == "guest2" and .outcome == "done")] | length > 0 and all(.hot != null)' < $T/done >/dev/null ||
	die "apply: $(cat $T/done)"
[ "$(cat $(mdev_dir $g2)/guest_matrix | tr '\n' ' ')" = "05.0047 06.0047 " ] || die "guest_matrix: $(cat $(mdev_dir $g2)/guest_matrix)"
cat $T/text $T/hot
EOF
	assert_success
	if [ $k = 6.0 ]; then
		assert_line "- guest2: unassign domain 0xff (hot unplug from the running guest: it loses APQN 05.00ff)"
		assert_line "- guest2: unassign control domain 0xff (hot unplug from the running guest)"
		assert_line "+ guest2: assign adapter 0x06 (hot plug into the running guest: it gains APQN 06.0047)"
		assert_line " 2 unplug"
		assert_line " 1 plug"
	else
		# one ap_config write: the apmask bit that gives 05.00ff back to the host waits for it
		assert_line --regexp "^~ guest2 777a2a03\.\.\.: set matrix: adapters 0x05,0x06, domains 0x47, control domains 0x47 \(adapters \+0x06, domains -0xff, control domains -0xff; hot plug and unplug in the running guest: it gains APQN 06\.0047, loses APQN 05\.00ff\)$"
		assert_line " 1 plug and unplug"
		refute_line " 1 unplug"
	fi
	done
}

@test "6.0-6.9, --force on a running guest: what it loses is unassigned after what it gains, so that a failed mask take or assign leaves it its queues (review 22 F2); the next run makes the same writes" {
	in_sim "$(seed_topo 6.0)" <<'EOF'
printf 'version: 1\nguests:\n  guest1:\n    adapters: [0x05, 0x06]\n    domains: [0x04]\n' > /etc/apmatrix.yaml
apmatrix apply -q || die "bring-up"
g1=$(uuid_of guest1)
echo "attach $g1" > /sys/.sim/guest
sed -i 's/domains: \[0x04\]/domains: [0x47]/' /etc/apmatrix.yaml
# the take, the assigns, the unassigns, the give-back that waits for the unassign of 0x04
apmatrix diff --force --json > $T/plan
[ "$(jq -r '[.actions[] | .phase + ":" + .kind] | join(",")' $T/plan)" = "take mask:take aqmask,assign:assign domain,assign:assign control domain,late unassign:unassign domain,late unassign:unassign control domain,release mask:release aqmask" ] ||
	die "plan: $(jq -c '[.actions[] | [.phase, .kind]]' $T/plan)"
jqe '.actions[5].depends_on == [3]' < $T/plan >/dev/null || die "give-back: $(jq -c '.actions[5]' $T/plan)"
for fault in "bus/ap/aqmask EIO 1" "*$g1/assign_domain EIO 1"; do
	echo "$fault" > /sys/.sim/fail
	clear_writes
	apmatrix apply --force > $T/out 2> $T/err; rc=$?
	[ $rc = 1 ] || die "$fault: exit $rc: $(cat $T/err)"
	# nothing taken from the guest: its two queues stay, in its view too
	! grep -q unassign /sys/.sim/writes || die "$fault: unassigned: $(cat /sys/.sim/writes)"
	[ "$(cat $(mdev_dir $g1)/matrix | tr '\n' ' ')" = "05.0004 06.0004 " ] || die "$fault: matrix: $(cat $(mdev_dir $g1)/matrix)"
	[ "$(cat $(mdev_dir $g1)/guest_matrix | tr '\n' ' ')" = "05.0004 06.0004 " ] ||
		die "$fault: guest_matrix: $(cat $(mdev_dir $g1)/guest_matrix)"
	grep -qx "apmatrix: warning: guest1: unassign domain 0x04 (hot unplug from the running guest: it loses APQNs 05.0004 06.0004): not tried: an earlier step for guest 'guest1' failed" $T/err ||
		die "$fault: stderr: $(cat $T/err)"
	# the host has domain 0x47 as before (the take failed, or went back after the assign failed)
	[ "$(ls /sys/bus/ap/drivers/cex4queue | grep -c '\.0047$')" = 2 ] || die "$fault: host queues: $(ls /sys/bus/ap/drivers/cex4queue)"
	echo clear > /sys/.sim/fail
done
# the next run: six writes, in the plan's order
clear_writes
expect_exit 0 apmatrix apply --force > /dev/null
got=$(awk -F'\t' '{ sub(/.*\//, "", $1); print $1, $2, $3 }' /sys/.sim/writes | tr '\n' ',')
[ "$got" = "aqmask -0x47 0,assign_domain 0x47 0,assign_control_domain 0x47 0,unassign_domain 0x04 0,unassign_control_domain 0x04 0,aqmask +0x04 0," ] ||
	die "writes: $(cat /sys/.sim/writes)"
[ "$(cat $(mdev_dir $g1)/guest_matrix | tr '\n' ' ')" = "05.0047 06.0047 " ] || die "guest_matrix after: $(cat $(mdev_dir $g1)/guest_matrix)"
clear_writes
expect_exit 0 apmatrix apply --force > /dev/null
[ "$(nwrites)" = 0 ] || die "third apply wrote: $(cat /sys/.sim/writes)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "a running guest's mdev is never written to where that blocks (5.15), and the summary says whether --force helps" {
	# the seed's host on 6.12 (hot plug) and on 5.15 (static: no change to a running guest)
	for host in "$(seed_topo 6.12)" "$(seed_topo 5.15)"; do
		in_sim "$host" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
apmatrix apply >/dev/null || die "bring-up"
g1=$(uuid_of guest1); g2=$(uuid_of guest2)
echo "attach $g1" > /sys/.sim/guest
echo "attach $g2" > /sys/.sim/guest
static=false
grep -q dynamic <(apmatrix status) || static=true
# guest1 undeclared (its mdev is apmatrix's, in use), guest2 loses a domain
sed -i '/guest1:/,/domains/d; s/domains: \[0x47, 0xff\]/domains: [0x47]/' /etc/apmatrix.yaml
clear_writes
for force in "" --force; do
	apply_guarded $g1 $force; rc=$?
	[ $rc = 2 ] || die "apply $force: exit $rc: $(cat $T/err)"
	if [ -z "$force" ] && ! $static; then
		want="guests are running; --force does some, the rest wait until their guest stops"
	else
		want="a guest is running; stop it, then apply again"
	fi
	grep -q "pending ($want)\$" $T/out || die "apply $force said: $(cat $T/out)"
	[ -d $(mdev_dir $g1) ] || die "apply $force removed a running guest's mdev"
done
# on the dynamic kernel --force did guest2's change
if $static; then
	! grep devices/vfio_ap /sys/.sim/writes || die "changed an mdev in use on a static kernel"
else
	! grep -q 05.00ff $(mdev_dir $g2)/matrix || die "--force did not change guest2"
fi
echo "detach $g1" > /sys/.sim/guest
echo "detach $g2" > /sys/.sim/guest
expect_exit 0 apmatrix apply >/dev/null
[ ! -d $(mdev_dir $g1) ] || die "mdev of the stopped guest1 not removed"
echo OK
EOF
		assert_success
		assert_output --partial OK
	done
}

@test "where the vfio group cannot be opened (a sandbox without /dev/vfio), an mdev counts as in use and is never removed" {
	# 5.15: no queue status, and a remove written to an mdev in use blocks;
	# an empty group directory is what PrivateDevices= leaves of /dev/vfio
	in_sim "$(seed_topo 5.15)" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
apmatrix apply >/dev/null || die "bring-up"
g1=$(uuid_of guest1)
echo "attach $g1" > /sys/.sim/guest
sed -i '/guest1:/,/domains/d' /etc/apmatrix.yaml
mkdir $T/novfio
clear_writes
APMATRIX_VFIO_DIR=$T/novfio apply_guarded $g1; rc=$?
[ $rc = 2 ] || die "exit $rc: $(cat $T/err)"
grep -q "$T/novfio/[0-9]*: cannot tell whether a guest holds mdev $g1 (No such file or directory); taken as in use\$" $T/err ||
	die "warning: $(cat $T/err)"
grep -q "guest1.*cannot tell whether a guest is running (an mdev that may be in use is never removed)" $T/err ||
	die "reason: $(cat $T/err)"
grep -q "pending (apmatrix cannot tell whether a guest is running; see the warnings)\$" $T/out || die "summary: $(cat $T/out)"
! grep devices/vfio_ap /sys/.sim/writes || die "wrote to the mdev"
[ -d $(mdev_dir $g1) ] || die "removed the mdev"
APMATRIX_VFIO_DIR=$T/novfio apmatrix status > $T/status 2>/dev/null
grep -q "$g1  created by apmatrix (apply removes it once its guest stops: run apmatrix apply then, or enable the libvirt hook), maybe in use (cannot tell)\$" $T/status ||
	die "status: $(cat $T/status)"
# where the group can be asked again, the stopped guest's mdev goes
echo "detach $g1" > /sys/.sim/guest
expect_exit 0 apmatrix apply >/dev/null
[ ! -d $(mdev_dir $g1) ] || die "mdev of the stopped guest1 not removed"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "masks auto: taking a domain beats taking adapters when that loses fewer host queues" {
	t=$BATS_TEST_TMPDIR/cover1.yaml
	cat > "$t" <<'EOT'
kernel: 6.12
vfio_ap: loaded
cards:
  - {id: 0x01, type: CEX7C, mode: cca, domains: [1, 2, 3, 4]}
  - {id: 0x02, type: CEX7C, mode: cca, domains: [1, 2, 3, 4]}
  - {id: 0x03, type: CEX7C, mode: cca, domains: [1, 2, 3, 4]}
EOT
	in_sim "$t" <<'EOF'
printf 'version: 1\nguests:\n  g: {adapters: [1, 2, 3], domains: [1]}\n' > /etc/apmatrix.yaml
apmatrix apply >/dev/null || die apply
grep -qP '^bus/ap/aqmask\t-0x01\t0$' /sys/.sim/writes || die "writes: $(cat /sys/.sim/writes)"
! grep -q '^bus/ap/apmask' /sys/.sim/writes || die "took adapters"
[ "$(ls /sys/bus/ap/drivers/cex4queue | grep -c '^0')" = 9 ] || die "host queues: $(ls /sys/bus/ap/drivers/cex4queue)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "masks auto: taking an adapter beats taking domains when that loses fewer host queues" {
	t=$BATS_TEST_TMPDIR/cover2.yaml
	cat > "$t" <<'EOT'
kernel: 6.12
vfio_ap: loaded
cards:
  - {id: 0x01, type: CEX7C, mode: cca, domains: [1, 2, 3]}
  - {id: 0x02, type: CEX7C, mode: cca, domains: [1, 2, 3]}
  - {id: 0x03, type: CEX7C, mode: cca, domains: [1, 2, 3]}
EOT
	in_sim "$t" <<'EOF'
printf 'version: 1\nguests:\n  g: {adapters: [1], domains: [1, 2, 3]}\n' > /etc/apmatrix.yaml
apmatrix apply >/dev/null || die apply
grep -qP '^bus/ap/apmask\t-0x01\t0$' /sys/.sim/writes || die "writes: $(cat /sys/.sim/writes)"
! grep -q '^bus/ap/aqmask' /sys/.sim/writes || die "took domains"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "masks auto: a card unplugged and plugged again changes no mask; a card away is no free cover" {
	t=$BATS_TEST_TMPDIR/three.yaml
	cat > "$t" <<'EOT'
kernel: 6.12
vfio_ap: loaded
max_domain: 0xff
cards:
  - {id: 0x05, type: CEX5C, mode: cca, domains: [0x04, 0x47, 0xab, 0xff]}
  - {id: 0x06, type: CEX5A, mode: accel, domains: [0x04, 0x47, 0xab, 0xff]}
  - {id: 0x07, type: CEX7C, mode: cca, domains: [0x04, 0x47, 0xab, 0xff]}
EOT
	in_sim "$t" <<'EOF'
printf 'version: 1\nguests:\n  g1: {adapters: [0x05], domains: [0x04]}\n  g2: {adapters: [0x06], domains: [0x47]}\n' > /etc/apmatrix.yaml
apmatrix apply >/dev/null || die "bring-up"
masks() { grep -E '^(apmask|aqmask) ' /sys/.sim/dump; }
before=$(masks)
host=$(ls /sys/bus/ap/drivers/cex4queue | sort)
for i in 1 2; do
	clear_writes
	echo 'remove 0x06' > /sys/.sim/hotplug || die unplug
	[ "$(apmatrix apply)" = "0 changes" ] || die "round $i, unplugged: $(apmatrix diff)"
	echo '{id: 0x06, type: CEX5A, mode: accel, domains: [0x04, 0x47, 0xab, 0xff]}' > /sys/.sim/hotplug || die plug
	[ "$(apmatrix apply)" = "0 changes" ] || die "round $i, plugged: $(apmatrix diff)"
	! grep -q '^bus/ap/a[pq]mask' /sys/.sim/writes || die "round $i: mask writes $(cat /sys/.sim/writes)"
	[ "$(masks)" = "$before" ] || die "round $i: masks $(masks)"
	[ "$(ls /sys/bus/ap/drivers/cex4queue | sort)" = "$host" ] || die "round $i: host queues $(ls /sys/bus/ap/drivers/cex4queue)"
done
# brought up while card 06 is away: its adapter bit would take the whole
# card when it comes back (3 queues), the domain takes 2 now
printf 'version: 1\nguests: {}\n' > /etc/apmatrix.yaml
apmatrix apply >/dev/null || die "removing the guests"
echo 'remove 0x06' > /sys/.sim/hotplug || die unplug
printf 'version: 1\nguests:\n  g1: {adapters: [0x05], domains: [0x04]}\n  g2: {adapters: [0x06], domains: [0x47]}\n' > /etc/apmatrix.yaml
clear_writes
apmatrix apply >/dev/null || die "bring-up without card 06"
! grep -q '^bus/ap/apmask' /sys/.sim/writes || die "took an adapter: $(cat /sys/.sim/writes)"
grep -qP '^bus/ap/aqmask\t([^\t]*,)?-0x47(,[^\t]*)?\t0$' /sys/.sim/writes || die "writes: $(cat /sys/.sim/writes)"
echo '{id: 0x06, type: CEX5A, mode: accel, domains: [0x04, 0x47, 0xab, 0xff]}' > /sys/.sim/hotplug || die plug
[ "$(apmatrix apply)" = "0 changes" ] || die "after the card came: $(apmatrix diff)"
# (06.0004 goes with domain 0x04, which g1's cover took while the card was away)
for q in 06.00ab 06.00ff; do
	[ -e /sys/bus/ap/drivers/cex4queue/$q ] || die "$q left the host"
done
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "masks auto: a card that is away counts with its domain bits too; masks stay over an unplug and return where a domain cover looked free" {
	# guest1 05,06 x 04,ab and guest2 05 x 47: apmask 0x05 with aqmask 0x04,0xab
	# takes 05.00ff too; with card 06 away, aqmask 0x04,0x47,0xab looked free,
	# but takes 06.0047 once the card is back
	in_sim "$HOSTS/seed.yaml" <<'EOF'
printf 'version: 1\nguests:\n  guest1: {adapters: [5, 6], domains: [4, 0xab]}\n  guest2: {adapters: [5], domains: [0x47]}\n' > /etc/apmatrix.yaml
apmatrix apply >/dev/null || die "bring-up"
masks() { grep -E '^(apmask|aqmask) ' /sys/.sim/dump; }
before=$(masks)
host=$(ls /sys/bus/ap/drivers/cex4queue | sort)
for i in 1 2; do
	clear_writes
	echo 'remove 0x06' > /sys/.sim/hotplug || die unplug
	[ "$(apmatrix apply)" = "0 changes" ] || die "round $i, unplugged: $(apmatrix diff)"
	echo '{id: 0x06, type: CEX5A, mode: accel, domains: [0x04, 0x47, 0xab, 0xff]}' > /sys/.sim/hotplug || die plug
	[ "$(apmatrix apply)" = "0 changes" ] || die "round $i, plugged: $(apmatrix diff)"
	[ "$(nwrites)" = 0 ] || die "round $i: writes $(cat /sys/.sim/writes)"
	[ "$(masks)" = "$before" ] || die "round $i: masks $(masks)"
	[ "$(ls /sys/bus/ap/drivers/cex4queue | sort)" = "$host" ] || die "round $i: host queues $(ls /sys/bus/ap/drivers/cex4queue)"
done
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "a card of another type or mode plugged into a guest's adapter: apply warns once, naming the guest, the adapter and both cards; a card of the same type is quiet" {
	# the audit case: guest1 (05,06 x 04,ab) runs, card 06 (CEX5A accelerator)
	# is unplugged and an EP11 coprocessor plugged at 0x06; the kernel gives
	# it to the running guest, and the plan has nothing to change
	echo "VALIDATE='$TOP/tests/lib/schema-validate' S='$TOP/schema'" > "$BATS_TEST_TMPDIR/vars"
	in_sim "$HOSTS/seed.yaml" <<'EOF'
. $T/vars
printf 'version: 1\nguests:\n  guest1: {adapters: [5, 6], domains: [4, 0xab]}\n  guest2: {adapters: [5], domains: [0x47]}\n' > /etc/apmatrix.yaml
apmatrix apply >/dev/null || die "bring-up"
g1=$(uuid_of guest1)
echo "attach $g1" > /sys/.sim/guest || die attach
swapped() { grep -c 'is now a' $T/err; }
# the same type and mode again: nothing to say
echo 'remove 0x06' > /sys/.sim/hotplug || die unplug
expect_exit 0 apmatrix apply > $T/out 2> $T/err
[ "$(swapped)" = 0 ] || die "card away: $(cat $T/err)"
echo '{id: 0x06, type: CEX5A, mode: accel, domains: [0x04, 0x47, 0xab, 0xff]}' > /sys/.sim/hotplug || die plug
expect_exit 0 apmatrix apply > $T/out 2> $T/err
[ "$(swapped)" = 0 ] || die "same card: $(cat $T/err)"
# another type and mode in its place
echo 'remove 0x06' > /sys/.sim/hotplug || die unplug
expect_exit 0 apmatrix apply > $T/out 2> $T/err
[ "$(swapped)" = 0 ] || die "card away: $(cat $T/err)"
echo '{id: 0x06, type: CEX7P, mode: ep11, domains: [0x04, 0x47, 0xab, 0xff]}' > /sys/.sim/hotplug || die plug
msg="guest 'guest1' (running): adapter 0x06 is now a CEX7P in EP11 mode; it was a CEX5A accelerator when apmatrix last saw it; the guest sees the new card"
# diff, status and show say it too, and change nothing
for cmd in diff status show; do
	expect_exit 0 apmatrix $cmd > $T/out 2> $T/err
	[ "$(swapped)" = 1 ] && grep -qxF "apmatrix: warning: $msg" $T/err || die "$cmd: $(cat $T/err)"
done
expect_exit 0 apmatrix apply --json > $T/json 2> $T/err
[ "$(swapped)" = 1 ] && grep -qxF "apmatrix: warning: $msg" $T/err || die "apply: $(cat $T/err)"
M=$msg jqe '.changed == false and ([.diagnostics[] | select(.message | contains("is now a"))] |
	length == 1 and .[0].severity == "warning" and .[0].guest == "guest1" and .[0].message == env.M)' < $T/json >/dev/null ||
	die "document: $(cat $T/json)"
v=$("$VALIDATE" "$S/apply.schema.json" $T/json) || die "validator: $v"
[ "$(sed -n 2p <<<"$v" | cut -d' ' -f1)" = valid ] || die "schema: $v"
grep -qx 'card 06 CEX7P ep11' /run/apmatrix/cards || die "records: $(cat /run/apmatrix/cards)"
# the ownership records stay version 1, which every apmatrix reads (a downgrade keeps working)
[ "$(head -1 /run/apmatrix/state)" = "apmatrix-state 1" ] && ! grep -q '^card ' /run/apmatrix/state ||
	die "state: $(cat /run/apmatrix/state)"
# said once: the records now hold the new card
for cmd in apply diff status show; do
	expect_exit 0 apmatrix $cmd > $T/out 2> $T/err
	[ "$(swapped)" = 0 ] || die "$cmd again: $(cat $T/err)"
done
# an adapter that leaves every mdev of apmatrix leaves the records
printf 'version: 1\nguests:\n  guest1: {adapters: [5], domains: [4, 0xab]}\n  guest2: {adapters: [5], domains: [0x47]}\n' > /etc/apmatrix.yaml
apmatrix apply --force >/dev/null 2>&1 || die "guest1 without 0x06"
! grep -q '^card 06 ' /run/apmatrix/cards || die "records: $(cat /run/apmatrix/cards)"
grep -qx 'card 05 CEX5C cca' /run/apmatrix/cards || die "records: $(cat /run/apmatrix/cards)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "apply and diff do not read a recorded card again while no uevent came since the records were checked in this boot; after any uevent, or in another boot, they do" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
printf 'version: 1\nguests:\n  guest1: {adapters: [5, 6], domains: [4, 0xab]}\n' > /etc/apmatrix.yaml
apmatrix apply >/dev/null || die "bring-up"
seq=$(cat /sys/kernel/uevent_seqnum) boot=$(cat /proc/sys/kernel/random/boot_id)
# checked as of the last uevent (the bring-up's own, read by its verification), in this boot
[ "$(sed -n 2p /run/apmatrix/cards)" = "seqnum $seq $boot" ] || die "cards at $seq: $(cat /run/apmatrix/cards)"
# a one-shot read rule on card 06's type: still there after a run that did not read it
unread() {
	echo "rdelay *card06/type 1" > /sys/.sim/fail || die rule
	expect_exit 0 apmatrix "$@" > $T/out 2> $T/err
	[ ! -s $T/err ] || die "$*: $(cat $T/err)"
	[ -n "$(cat /sys/.sim/fail)" ]; r=$?
	echo clear > /sys/.sim/fail
	return $r
}
for cmd in apply diff; do
	unread $cmd || die "$cmd read card 06's type with no uevent since the records"
done
[ "$(cat /sys/kernel/uevent_seqnum)" = "$seq" ] && [ "$(sed -n 2p /run/apmatrix/cards)" = "seqnum $seq $boot" ] ||
	die "records moved: $(cat /run/apmatrix/cards)"
# any uevent, here of a card apmatrix does not use: the cards are read again
echo '- {id: 0x07, type: CEX6P, mode: ep11, domains: [0x04]}' > /sys/.sim/hotplug || die plug
[ "$(cat /sys/kernel/uevent_seqnum)" -gt "$seq" ] || die "no uevent"
! unread diff || die "diff did not read card 06 after a uevent"
! unread apply || die "apply did not read card 06 after a uevent"
[ "$(sed -n 2p /run/apmatrix/cards)" = "seqnum $(cat /sys/kernel/uevent_seqnum) $boot" ] || die "not recorded: $(cat /run/apmatrix/cards)"
unread apply || die "apply read card 06 again"
# the same number in another boot (a run directory that outlived a reboot): read again
sed -i "2s/ .*/ $(cat /sys/kernel/uevent_seqnum) 00000000-0000-4000-8000-000000000000/" /run/apmatrix/cards
! unread diff || die "diff did not read card 06 with another boot's records"
! unread apply || die "apply did not read card 06 with another boot's records"
[ "$(sed -n 2p /run/apmatrix/cards)" = "seqnum $(cat /sys/kernel/uevent_seqnum) $boot" ] || die "not recorded: $(cat /run/apmatrix/cards)"
# a records file without the line (as versions before it write it): the cards are read, then recorded
printf 'apmatrix-cards 1\ncard 05 CEX5C cca\ncard 06 CEX5A accel\n' > /run/apmatrix/cards
! unread apply || die "apply did not read card 06 without a seqnum"
[ "$(cat /run/apmatrix/cards)" = "$(printf 'apmatrix-cards 1\nseqnum %s %s\ncard 05 CEX5C cca\ncard 06 CEX5A accel' "$(cat /sys/kernel/uevent_seqnum)" "$boot")" ] ||
	die "cards: $(cat /run/apmatrix/cards)"
# a swap still makes its uevents, and is told
echo 'remove 0x06' > /sys/.sim/hotplug || die unplug
echo '- {id: 0x06, type: CEX7P, mode: ep11, domains: [0x04, 0x47, 0xab, 0xff]}' > /sys/.sim/hotplug || die plug
expect_exit 0 apmatrix apply > $T/out 2> $T/err
grep -q "adapter 0x06 is now a CEX7P in EP11 mode" $T/err || die "swap: $(cat $T/err)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "ownership records of version 2 (card lines in them) are read, and apply writes them back as version 1 with the cards apart" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
printf 'version: 1\nguests:\n  guest1: {adapters: [5, 6], domains: [4, 0xab]}\n  guest2: {adapters: [5], domains: [0x47]}\n' > /etc/apmatrix.yaml
apmatrix apply >/dev/null || die "bring-up"
boot=$(cat /proc/sys/kernel/random/boot_id)
[ "$(head -1 /run/apmatrix/state)" = "apmatrix-state 1" ] || die "state: $(cat /run/apmatrix/state)"
[ "$(cat /run/apmatrix/cards)" = "$(printf 'apmatrix-cards 1\nseqnum %s %s\ncard 05 CEX5C cca\ncard 06 CEX5A accel' "$(cat /sys/kernel/uevent_seqnum)" "$boot")" ] ||
	die "cards: $(cat /run/apmatrix/cards)"
# as an earlier version wrote them: one file, version 2, card lines last
v1=$(tail -n +2 /run/apmatrix/state)
v2() { printf 'apmatrix-state 2\n%s\ncard 05 CEX5C cca\ncard 06 CEX5A accel\n' "$v1" > /run/apmatrix/state; rm -f /run/apmatrix/cards; }
v2
cp /run/apmatrix/state $T/v2
for cmd in diff status; do
	expect_exit 0 apmatrix $cmd > $T/out 2> $T/err
	[ ! -s $T/err ] || die "$cmd: $(cat $T/err)"
done
cmp -s $T/v2 /run/apmatrix/state && [ ! -e /run/apmatrix/cards ] || die "diff or status wrote records"
# a converged apply writes nothing to sysfs and the records back in the new form
clear_writes
[ "$(apmatrix apply 2>&1)" = "0 changes" ] || die "converged apply"
[ "$(nwrites)" = 0 ] || die "writes: $(cat /sys/.sim/writes)"
[ "$(cat /run/apmatrix/state)" = "$(printf 'apmatrix-state 1\n%s' "$v1")" ] || die "state: $(cat /run/apmatrix/state)"
[ "$(cat /run/apmatrix/cards)" = "$(printf 'apmatrix-cards 1\nseqnum %s %s\ncard 05 CEX5C cca\ncard 06 CEX5A accel' "$(cat /sys/kernel/uevent_seqnum)" "$boot")" ] ||
	die "cards: $(cat /run/apmatrix/cards)"
# the card records of a version 2 file still tell a swapped card
v2
echo 'remove 0x06' > /sys/.sim/hotplug || die unplug
echo '{id: 0x06, type: CEX7P, mode: ep11, domains: [0x04, 0x47, 0xab, 0xff]}' > /sys/.sim/hotplug || die plug
expect_exit 0 apmatrix apply > $T/out 2> $T/err
grep -qxF "apmatrix: warning: guest 'guest1' (not running): adapter 0x06 is now a CEX7P in EP11 mode; it was a CEX5A accelerator when apmatrix last saw it; the guest gets the new card when it starts" $T/err ||
	die "apply: $(cat $T/err)"
[ "$(head -1 /run/apmatrix/state)" = "apmatrix-state 1" ] && ! grep -q '^card' /run/apmatrix/state || die "state: $(cat /run/apmatrix/state)"
grep -qx 'card 06 CEX7P ep11' /run/apmatrix/cards || die "cards: $(cat /run/apmatrix/cards)"
expect_exit 0 apmatrix apply > $T/out 2> $T/err
[ ! -s $T/err ] || die "again: $(cat $T/err)"
# a cards file it cannot read is no records: no warning, no failure, rewritten
printf 'garbage\n' > /run/apmatrix/cards
expect_exit 0 apmatrix apply > $T/out 2> $T/err
[ ! -s $T/err ] && [ "$(cat $T/out)" = "0 changes" ] || die "garbage cards: $(cat $T/out $T/err)"
[ "$(cat /run/apmatrix/cards)" = "$(printf 'apmatrix-cards 1\nseqnum %s %s\ncard 05 CEX5C cca\ncard 06 CEX7P ep11' "$(cat /sys/kernel/uevent_seqnum)" "$boot")" ] ||
	die "cards: $(cat /run/apmatrix/cards)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "masks auto: host.keep forces the costlier cover, and the host keeps its domain" {
	t=$BATS_TEST_TMPDIR/cover3.yaml
	cat > "$t" <<'EOT'
kernel: 6.12
vfio_ap: loaded
cards:
  - {id: 0x01, type: CEX7C, mode: cca, domains: [1, 2]}
  - {id: 0x02, type: CEX7C, mode: cca, domains: [1, 2]}
  - {id: 0x04, type: CEX7C, mode: cca, domains: [1, 2]}
EOT
	in_sim "$t" <<'EOF'
printf 'version: 1\nhost:\n  keep: {adapters: [4], domains: [1]}\nguests:\n  g: {adapters: [1, 2], domains: [1]}\n' > /etc/apmatrix.yaml
apmatrix apply >/dev/null || die apply
grep -qP '^bus/ap/apmask\t-0x01,-0x02\t0$' /sys/.sim/writes || die "writes: $(cat /sys/.sim/writes)"
! grep -q '^bus/ap/aqmask' /sys/.sim/writes || die "took the kept domain"
[ -L /sys/bus/ap/drivers/cex4queue/04.0001 ] || die "host lost 04.0001"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "host.keep violations are refused before any write (exit 65)" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
printf 'version: 1\nhost:\n  keep: {adapters: [5], domains: [4]}\nguests:\n  g: {adapters: [5], domains: [4, 0x47]}\n' > /etc/apmatrix.yaml
apmatrix apply 2> $T/err; rc=$?
[ $rc = 65 ] || die "exit $rc"
grep -q "05.0004" $T/err || die "message: $(cat $T/err)"
[ "$(nwrites)" = 0 ] || die "wrote: $(cat /sys/.sim/writes)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "masks auto: a change keeps the mask layout in place while it still covers; no held bits traded for fewer new ones" {
	in_sim "$HOSTS/seed.yaml" <<'EOF2'
cat >/etc/apmatrix.yaml <<'Y'
version: 1
guests:
  guest1:
    adapters: [0x05, 0x06]
    domains: [0x04, 0xab]
  guest2:
    adapters: [0x05]
    domains: [0x47]
Y
expect_exit 0 apmatrix apply >/dev/null
g1=$(uuid_of guest1)
# guest1 runs while it loses 0xab: its change waits; guest2's 0x47 and a
# new guest3 take domain bits meanwhile (layout: aqmask 0x04 0x47 0xab
# 0xff; apmask 0x05 goes back in the first run: aqmask 0xab, which 06.00ab
# of the running guest1 needs, keeps 05.00ab from the host too, review 22 F1)
echo "attach $g1" > /sys/.sim/guest
sed -i 's/domains: \[0x04, 0xab\]/domains: [0x04]/' /etc/apmatrix.yaml
grep -q 'domains: \[0x04\]$' /etc/apmatrix.yaml || die "sed did not change guest1: $(cat /etc/apmatrix.yaml)"
expect_exit 2 apmatrix apply >/dev/null
[ "$(cat /sys/bus/ap/apmask)" = "0xffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff" ] ||
	die "apmask 0x05 kept: $(cat /sys/bus/ap/apmask)"
cat >> /etc/apmatrix.yaml <<'Y'
  guest3:
    adapters: [0x06]
    domains: [0xff]
Y
expect_exit 2 apmatrix apply >/dev/null
ap=$(cat /sys/bus/ap/apmask); aq=$(cat /sys/bus/ap/aqmask)
# guest1 stops and wants 0xab again: what it has; the held layout still
# covers, so the plan keeps it (before: apmask took 0x06 and aqmask gave
# back 0x04 0x47 0xab 0xff, 2 writes; nor does it take apmask 0x05 to give
# 0x47 back, which would hold 1 host queue instead of 2)
echo "detach $g1" > /sys/.sim/guest
sed -i 's/domains: \[0x04\]$/domains: [0x04, 0xab]/' /etc/apmatrix.yaml
clear_writes
out=$(apmatrix diff) || die "diff exit $?: $out"
[ "$out" = "0 changes" ] || die "diff: $out"
expect_exit 0 apmatrix apply >/dev/null
[ "$(nwrites)" = 0 ] || die "writes: $(cat /sys/.sim/writes)"
[ "$(cat /sys/bus/ap/apmask)" = "$ap" ] || die "apmask changed: $ap -> $(cat /sys/bus/ap/apmask)"
[ "$(cat /sys/bus/ap/aqmask)" = "$aq" ] || die "aqmask changed: $aq -> $(cat /sys/bus/ap/aqmask)"
expect_exit 0 apmatrix diff >/dev/null
echo OK
EOF2
	assert_success
	assert_output --partial OK
}

@test "a mask take that only a pending change needs waits with it: the exit-2 run takes no host queue; --force or the guest's stop then does all; a revert keeps the masks (6.12, 5.15)" {
	for k in 6.12 5.15; do
		# the seed's cards and a third one (0x07) the host keeps
		t=$(seed_topo $k)
		echo '  - {id: 0x07, type: CEX6P, mode: ep11,  domains: [0x04, 0x47, 0xab, 0xff]}' >>"$t"
		in_sim "$t" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
expect_exit 0 apmatrix apply >/dev/null
g1=$(uuid_of guest1)
ap=$(cat /sys/bus/ap/apmask); aq=$(cat /sys/bus/ap/aqmask)
static=false
grep -q dynamic <(apmatrix status) || static=true
# domain 0xab moves from the running guest1 to guest2 (stopped): the new
# cover (apmask 0x05, aqmask 0x04) takes the host's 07.0004, which only the
# give-back of apmask 0x06 needs, and that waits for guest1
echo "attach $g1" > /sys/.sim/guest
move() {
	sed -i 's/domains: \[0x04, 0xab\]/domains: [0x04]/; s/domains: \[0x47, 0xff\]/domains: [0x47, 0xab, 0xff]/' /etc/apmatrix.yaml
	grep -q 'domains: \[0x47, 0xab, 0xff\]' /etc/apmatrix.yaml || die "sed: $(cat /etc/apmatrix.yaml)"
}
move
cp /etc/apmatrix.yaml $T/moved.yaml
clear_writes
out=$(apmatrix diff 2>/dev/null); rc=$?
[ $rc = 2 ] || die "diff exit $rc: $out"
grep -qxF "! aqmask: take 0x04 from host drivers pending: waits for 'guest1' (running)" <<<"$out" || die "diff: $out"
! grep -q '^~ aqmask' <<<"$out" || die "diff takes now: $out"
apmatrix diff --json | jqe '[.actions[] | select(.kind == "take aqmask") | [.pending, .waits_for]] == [[true, "guest1"]]' >/dev/null ||
	die "json: $(apmatrix diff --json)"
expect_exit 2 apmatrix apply >/dev/null 2>$T/err
grep -qxF "apmatrix: warning: aqmask: take 0x04 from host drivers pending: waits for 'guest1' (running)" $T/err ||
	die "apply said: $(cat $T/err)"
! grep -q '^bus/ap/' /sys/.sim/writes || die "the exit-2 run wrote a mask: $(cat /sys/.sim/writes)"
[ "$(cat /sys/bus/ap/apmask) $(cat /sys/bus/ap/aqmask)" = "$ap $aq" ] || die "masks changed"
[ "$(basename $(readlink /sys/devices/ap/card07/07.0004/driver))" != vfio_ap ] || die "07.0004 taken from the host"
clear_writes
expect_exit 2 apmatrix apply >/dev/null 2>&1
[ "$(nwrites)" = 0 ] || die "second apply wrote: $(cat /sys/.sim/writes)"
# the admin reverts: the masks are as before, and nothing is given back
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
clear_writes
expect_exit 0 apmatrix apply >/dev/null 2>&1
! grep -q '^bus/ap/' /sys/.sim/writes || die "the revert wrote a mask: $(cat /sys/.sim/writes)"
[ "$(cat /sys/bus/ap/apmask) $(cat /sys/bus/ap/aqmask)" = "$ap $aq" ] || die "masks changed by the revert"
# the move again; --force (6.x) or the guest's stop (5.15) does all of it
cp $T/moved.yaml /etc/apmatrix.yaml
if $static; then
	echo "detach $g1" > /sys/.sim/guest
	force=
else
	force=--force
fi
clear_writes
expect_exit 0 apmatrix apply $force >/dev/null 2>&1
[ -z "$(bad_writes)" ] || die "failed writes: $(bad_writes)"
[ "$(grep '^bus/ap/' /sys/.sim/writes | cut -f1,2 | tr '\t\n' ' ')" = "bus/ap/aqmask -0x04 bus/ap/apmask +0x06 " ] ||
	die "writes: $(cat /sys/.sim/writes)"
grep -q 05.00ab $(mdev_dir $(uuid_of guest2))/matrix || die "guest2 lacks 05.00ab"
clear_writes
expect_exit 0 apmatrix apply $force >/dev/null 2>&1
[ "$(nwrites)" = 0 ] || die "second apply wrote: $(cat /sys/.sim/writes)"
echo OK
EOF
		assert_success
		assert_output --partial OK
	done
}

@test "a mask take that only replaces a bit another guest's pending change keeps waits with that guest: the exit-2 run takes no host queue; --force or the guest's stop then does all (6.12)" {
	# guest2's 05.0047 is kept from the host by apmask 0x05, which stays
	# taken while the running guest1 holds 05.00ab: aqmask 0x47 only
	# replaces apmask 0x05 for when its give-back can run.  The take served
	# guest2, which has nothing pending, and was written at once: 06.0047
	# left the host with nothing needing it.  (In the review's form, guest1
	# on adapters 0x05 and 0x06 and no guest3, 06.00ab keeps aqmask 0xab
	# taken, that covers 05.00ab, and apmask 0x05 goes back in the exit-2
	# run, relying on the take; here guest3 keeps aqmask 0x04 and 0xab is
	# the host's, so apmask 0x05 stays.)
	for how in force stop; do
		echo $how >"$BATS_TEST_TMPDIR/how"
		in_sim "$HOSTS/seed.yaml" <<'EOF'
how=$(cat $T/how)
cat > /etc/apmatrix.yaml <<'Y'
version: 1
guests:
  guest1:
    adapters: [0x05]
    domains: [0x04, 0xab]
  guest2:
    adapters: [0x05]
    domains: [0x47]
  guest3:
    adapters: [0x06]
    domains: [0x04]
Y
expect_exit 0 apmatrix apply >/dev/null
g1=$(uuid_of guest1)
ap=$(cat /sys/bus/ap/apmask); aq=$(cat /sys/bus/ap/aqmask)
echo "attach $g1" > /sys/.sim/guest
# guest1 drops 0xab: the cover becomes aqmask 0x04 0x47 (06.0047 the one
# host queue it takes) instead of apmask 0x05 (05.00ab 05.00ff)
sed -i '0,/domains: \[0x04, 0xab\]/s//domains: [0x04]/' /etc/apmatrix.yaml
grep -q 'domains: \[0x04, 0xab\]' /etc/apmatrix.yaml && die "sed: $(cat /etc/apmatrix.yaml)"
clear_writes
out=$(apmatrix diff 2>&1); rc=$?
[ $rc = 2 ] || die "diff exit $rc: $out"
grep -qxF "apmatrix: note: apmask bit 0x05 stays taken: APQN 05.00ab is still assigned to mdev $g1 (guest 'guest1')" <<<"$out" ||
	die "diff: $out"
grep -qxF "! aqmask: take 0x47 from host drivers pending: waits for 'guest1' (running)" <<<"$out" || die "diff: $out"
! grep -q '^~ aqmask' <<<"$out" || die "diff takes now: $out"
grep -qxF "0 changes, 2 pending" <<<"$out" || die "diff: $out"
apmatrix diff --json | jqe '[.actions[] | select(.kind == "take aqmask") | [.pending, .waits_for]] == [[true, "guest1"]]' >/dev/null ||
	die "json: $(apmatrix diff --json)"
expect_exit 2 apmatrix apply >/dev/null 2>$T/err
grep -qxF "apmatrix: warning: aqmask: take 0x47 from host drivers pending: waits for 'guest1' (running)" $T/err ||
	die "apply said: $(cat $T/err)"
[ "$(nwrites)" = 0 ] || die "the exit-2 run wrote: $(cat /sys/.sim/writes)"
[ "$(cat /sys/bus/ap/apmask) $(cat /sys/bus/ap/aqmask)" = "$ap $aq" ] || die "masks changed"
[ "$(basename $(readlink /sys/devices/ap/card06/06.0047/driver))" = cex4queue ] || die "06.0047 taken from the host"
clear_writes
expect_exit 2 apmatrix apply >/dev/null 2>&1
[ "$(nwrites)" = 0 ] || die "second apply wrote: $(cat /sys/.sim/writes)"
let_go $how $g1
clear_writes
expect_exit 0 apmatrix apply $force >/dev/null 2>&1
[ -z "$(bad_writes)" ] || die "failed writes: $(bad_writes)"
[ "$(grep '^bus/ap/' /sys/.sim/writes | cut -f1,2 | tr '\t\n' ' ')" = "bus/ap/aqmask -0x47 bus/ap/apmask +0x05 " ] ||
	die "writes: $(cat /sys/.sim/writes)"
[ "$(cat $(mdev_dir $g1)/matrix | tr '\n' ' ')" = "05.0004 " ] || die "guest1 matrix: $(cat $(mdev_dir $g1)/matrix)"
[ "$(basename $(readlink /sys/devices/ap/card06/06.0047/driver))" = vfio_ap ] || die "06.0047 not taken"
[ "$(basename $(readlink /sys/devices/ap/card05/05.00ff/driver))" = cex4queue ] || die "05.00ff not given back"
clear_writes
expect_exit 0 apmatrix apply $force >/dev/null 2>&1
[ "$(nwrites)" = 0 ] || die "second apply wrote: $(cat /sys/.sim/writes)"
expect_exit 0 apmatrix diff >/dev/null
echo OK
EOF
		assert_success
		assert_output --partial OK
	done
}

@test "a trade of mask bits that would give the host fewer queues than it takes waits with the running guest: the exit-2 run takes nothing; --force or the guest's stop then does all (6.12, 6.0, 5.15)" {
	# g1 (running) keeps 05.0047 05.00ab 06.0047 06.00ab under aqmask 0x47
	# 0xab.  The new layout covers 05 and 06 by apmask: its take would
	# replace aqmask 0x47 0xab for g1, and they could go back, but with
	# apmask 0x05-0x07 taken they return no queue, while the take moves
	# 05.0004 05.00ff 06.0004 06.00ff from the host.  Nothing that does not
	# wait needs the take: both wait for g1 (before 6.10, g2's assign of
	# domain 0xff is written, but with adapter 0x06, whose assign waits, it
	# needs no queue of the take).
	for run in "6.12 force" "6.12 stop" "6.0 force" "6.0 stop" "5.15 stop"; do
		t=$(seed_topo3 ${run% *})
		echo ${run#* } >"$BATS_TEST_TMPDIR/how"
		in_sim "$t" <<'EOF'
how=$(cat $T/how)
three_guests
g1=$(uuid_of g1)
ap=$(cat /sys/bus/ap/apmask); aq=$(cat /sys/bus/ap/aqmask)
host=$(ls /sys/bus/ap/drivers/cex4queue | grep '\.' | tr '\n' ' ')
echo "attach $g1" > /sys/.sim/guest
printf 'version: 1\nguests:\n  g1:\n    adapters: [0x05]\n    domains: [0x47, 0x04]\n  g2:\n    adapters: [0x06, 0x07]\n    domains: [0xab, 0xff]\n  g3:\n    adapters: [0x07]\n    domains: [0x47]\n' > /etc/apmatrix.yaml
out=$(apmatrix diff 2>&1); rc=$?
[ $rc = 2 ] || die "diff exit $rc: $out"
grep -qxF "! apmask: take 0x05 0x06 from host drivers pending: waits for 'g1' (running)" <<<"$out" || die "diff: $out"
grep -qxF "apmatrix: note: aqmask bit 0x47 stays taken: APQN 05.0047 is still assigned to mdev $g1 (guest 'g1')" <<<"$out" || die "diff: $out"
grep -qxF "apmatrix: note: aqmask bit 0xab stays taken: APQN 05.00ab is still assigned to mdev $g1 (guest 'g1')" <<<"$out" || die "diff: $out"
! grep -q '^~ a[pq]mask' <<<"$out" || die "diff changes a mask now: $out"
clear_writes
expect_exit 2 apmatrix apply >/dev/null 2>$T/err
! grep -q '^bus/ap/' /sys/.sim/writes || die "the exit-2 run wrote a mask: $(cat /sys/.sim/writes)"
[ "$(cat /sys/bus/ap/apmask) $(cat /sys/bus/ap/aqmask)" = "$ap $aq" ] || die "masks changed"
[ "$(ls /sys/bus/ap/drivers/cex4queue | grep '\.' | tr '\n' ' ')" = "$host" ] || die "host queues: $(ls /sys/bus/ap/drivers/cex4queue)"
let_go $how $g1
clear_writes
expect_exit 0 apmatrix apply $force >/dev/null 2>&1
[ -z "$(bad_writes)" ] || die "failed writes: $(bad_writes)"
[ "$(grep '^bus/ap/' /sys/.sim/writes | cut -f1,2 | tr '\t\n' ' ')" = "bus/ap/apmask -0x05,-0x06 bus/ap/aqmask +0x47,+0xab " ] ||
	die "writes: $(cat /sys/.sim/writes)"
apmatrix status --json | jqe '[.guests[].state] == ["matches","matches","matches"]' >/dev/null || die "status: $(apmatrix status)"
clear_writes
expect_exit 0 apmatrix apply $force >/dev/null 2>&1
[ "$(nwrites)" = 0 ] || die "second apply wrote: $(cat /sys/.sim/writes)"
echo OK
EOF
		assert_success
		assert_output --partial OK
	done
}

@test "before 6.10, a host.keep change while a guest runs: no mask take that only waiting assigns need; what the round's unassigns free is given back in one more round, whose notice names no guest stop" {
	for kernel in 6.0 5.15; do
		t=$(seed_topo3 $kernel)
		in_sim "$t" <<'EOF'
three_guests
for g in g1 g3; do echo "attach $(uuid_of $g)" > /sys/.sim/guest; done
aq=$(cat /sys/bus/ap/aqmask)
# g2 moves to 0x06 0x07 x 0xab: its assign of adapter 0x06 waits for g1
# (06.00ab); g1's gain of 05.0004, which alone needs aqmask 0x04, waits too
printf 'version: 1\nhost:\n  keep:\n    domains: [0xff]\nguests:\n  g1: {adapters: [0x05], domains: [0x47, 0x04]}\n  g2: {adapters: [0x06, 0x07], domains: [0xab]}\n  g3: {adapters: [0x07], domains: [0x47]}\n' > /etc/apmatrix.yaml
clear_writes
expect_exit 2 apmatrix apply > $T/out 2> $T/err
grep -qxF "apmatrix: warning: aqmask: take 0x04 from host drivers pending: waits for 'g1' (running)" $T/err || die "stderr: $(cat $T/err)"
grep -qxF "apmatrix: changes that waited can go ahead after this round's; planning once more" $T/err || die "stderr: $(cat $T/err)"
! grep -q "a guest stopped" $T/err || die "stderr: $(cat $T/err)"
[ "$(grep '^bus/ap/' /sys/.sim/writes | cut -f1,2 | tr '\t\n' ' ')" = "bus/ap/apmask +0x07 " ] || die "mask writes: $(cat /sys/.sim/writes)"
[ "$(cat /sys/bus/ap/aqmask)" = "$aq" ] || die "aqmask changed"
for q in 05.0004 06.0004 07.0004 07.00ff; do [ -e /sys/bus/ap/drivers/cex4queue/$q ] || die "$q not the host's"; done
clear_writes
expect_exit 2 apmatrix apply > /dev/null 2>&1
[ "$(nwrites)" = 0 ] || die "second run wrote: $(cat /sys/.sim/writes)"
echo OK
EOF
		assert_success
		assert_output --partial OK
	done
}

@test "before 6.0, an assign that leaves an mdev with numbers of one dimension only keeps its mask take, though the mdev's other assigns wait: no EADDRNOTAVAIL, exit 2" {
	# g2 loses adapter 0x06 and gains 0x07, whose assign waits for g1
	# (running, no longer declared, holds 07.0047); its assign of domain
	# 0x04 then finds no adapter in the mdev, and the static kernel wants a
	# queue of 0x04 bound to vfio_ap: the apmask take of 0x07 gives it one
	t=$(seed_topo3 5.15)
	in_sim "$t" <<'EOF'
printf 'version: 1\nguests:\n  g1: {adapters: [0x07], domains: [0x47]}\n  g2: {adapters: [0x06], domains: [0xab]}\n' > /etc/apmatrix.yaml
apmatrix apply -q || die "bring-up"
g1=$(uuid_of g1)
echo "attach $g1" > /sys/.sim/guest
printf 'version: 1\nguests:\n  g2: {adapters: [0x07], domains: [0x47, 0x04]}\n' > /etc/apmatrix.yaml
clear_writes
expect_exit 2 apmatrix apply > $T/out 2> $T/err
[ -z "$(bad_writes)" ] || die "failed writes: $(bad_writes)"
grep -q '^bus/ap/apmask	-0x07	0$' /sys/.sim/writes || die "writes: $(cat /sys/.sim/writes)"
clear_writes
expect_exit 2 apmatrix apply > /dev/null 2>&1
[ "$(nwrites)" = 0 ] || die "second run wrote: $(cat /sys/.sim/writes)"
echo "detach $g1" > /sys/.sim/guest
expect_exit 0 apmatrix apply > /dev/null 2>&1
clear_writes
expect_exit 0 apmatrix apply > /dev/null 2>&1
[ "$(nwrites)" = 0 ] || die "converged run wrote: $(cat /sys/.sim/writes)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "a mask take needed now for some bits only is split: the exit-2 run takes only what the unblocked change needs; the rest waits with the running guest and is taken once it stops (6.12)" {
	# the seed's cards and a third one (0x07)
	t=$(seed_topo 6.12)
	echo '  - {id: 0x07, type: CEX6P, mode: ep11,  domains: [0x04, 0x47, 0xab, 0xff]}' >>"$t"
	in_sim "$t" <<'EOF'
cat > /etc/apmatrix.yaml <<'Y'
version: 1
guests:
  g1:
    adapters: [0x05]
    domains: [0x04, 0x47, 0xab]
Y
expect_exit 0 apmatrix apply >/dev/null
u1=$(uuid_of g1)
echo "attach $u1" > /sys/.sim/guest
# g1 (running) moves to adapter 0x06, a new g2 gets 0x07: g2 needs apmask
# 0x07 now, 0x06 only g1's pending change needs
cat > /etc/apmatrix.yaml <<'Y'
version: 1
guests:
  g1:
    adapters: [0x06]
    domains: [0x04, 0x47, 0xab]
  g2:
    adapters: [0x07]
    domains: [0x04, 0x47, 0xab]
Y
out=$(apmatrix diff 2>/dev/null); rc=$?
[ $rc = 2 ] || die "diff exit $rc: $out"
grep -qxF "~ apmask: take 0x07 from host drivers (g2 needs them; 1 other queue leaves the host too: 07.00ff)" <<<"$out" || die "diff: $out"
grep -qxF "! apmask: take 0x06 from host drivers pending: waits for 'g1' (running)" <<<"$out" || die "diff: $out"
apmatrix diff --json 2>/dev/null | jqe '[.actions[] | select(.kind == "take apmask") | [.writes[0].value, .pending, .waits_for, .force_helps]] == [["-0x07", false, null, false], ["-0x06", true, "g1", true]]' >/dev/null ||
	die "json: $(apmatrix diff --json 2>/dev/null | jq -c '.actions')"
# each assign depends on the take that holds its bits
apmatrix diff --json 2>/dev/null | jqe '[.actions[] | select(.kind == "write ap_config") | [.guest, .depends_on]] == [["g1", [1]], ["g2", [0, 2]]]' >/dev/null ||
	die "dependencies: $(apmatrix diff --json 2>/dev/null | jq -c '[.actions[] | [.kind, .guest, .depends_on]]')"
clear_writes
expect_exit 2 apmatrix apply --json >$T/out 2>$T/err
[ -z "$(bad_writes)" ] || die "failed writes: $(bad_writes)"
[ "$(grep '^bus/ap/' /sys/.sim/writes | cut -f1,2 | tr '\t\n' ' ')" = "bus/ap/apmask -0x07 " ] ||
	die "mask writes: $(cat /sys/.sim/writes)"
grep -qxF "apmatrix: warning: apmask: take 0x06 from host drivers pending: waits for 'g1' (running)" $T/err ||
	die "apply said: $(cat $T/err)"
jqe '[.actions[] | select(.kind == "take apmask") | [.outcome, .waits_for]] == [["done", null], ["pending", "g1"]]' <$T/out >/dev/null ||
	die "JSON: $(jq -c '.actions' <$T/out)"
for q in 06.0004 06.0047 06.00ab 06.00ff; do
	[ "$(basename $(readlink /sys/devices/ap/card06/$q/driver))" = cex4queue ] || die "$q taken from the host"
done
grep -qx 07.0047 $(mdev_dir $(uuid_of g2))/matrix || die "g2 lacks 07.0047"
# g1 stops: the rest of the take, g1's change, and 0x05 back
echo "detach $u1" > /sys/.sim/guest
clear_writes
expect_exit 0 apmatrix apply >/dev/null 2>&1
[ -z "$(bad_writes)" ] || die "failed writes: $(bad_writes)"
[ "$(grep '^bus/ap/' /sys/.sim/writes | cut -f1,2 | tr '\t\n' ' ')" = "bus/ap/apmask -0x06 bus/ap/apmask +0x05 " ] ||
	die "mask writes: $(cat /sys/.sim/writes)"
grep -qx 06.0047 $(mdev_dir $u1)/matrix || die "g1 lacks 06.0047"
expect_exit 0 apmatrix diff >/dev/null 2>&1
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "masks off: no mask writes; guest APQNs still host-owned are reported (exit 1)" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
printf 'version: 1\nhost:\n  masks: off\nguests:\n  g: {adapters: [5], domains: [0x47]}\n' > /etc/apmatrix.yaml
apmatrix apply 2> $T/err; rc=$?
[ $rc = 1 ] || die "exit $rc"
grep -qxF "apmatrix: /etc/apmatrix.yaml:5:32: guest 'g': APQN 05.0047 is still reserved for host drivers and host.masks is off: clear apmask bit 0x05 (all of adapter 0x05) or aqmask bit 0x47 (all of domain 0x47), e.g. echo -0x47 > /sys/bus/ap/aqmask, or set host.masks: auto" $T/err || die "message: $(cat $T/err)"
! grep -q mask /sys/.sim/writes || die "mask written"
echo -0x47 > /sys/bus/ap/aqmask
expect_exit 0 apmatrix apply >/dev/null
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "removing every guest gives back exactly the mask bits apmatrix took, and no others" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
echo -0x10 > /sys/bus/ap/apmask
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
apmatrix apply >/dev/null || die apply
printf 'version: 1\nguests: {}\n' > /etc/apmatrix.yaml
apmatrix apply >/dev/null || die "apply 2: $(apmatrix apply 2>&1)"
[ -z "$(bad_writes)" ] || die "failed writes: $(bad_writes)"
ap=$(cat /sys/bus/ap/apmask); aq=$(cat /sys/bus/ap/aqmask)
[ "$aq" = "0x$(printf 'f%.0s' $(seq 64))" ] || die "aqmask $aq"
[ "$ap" = "0xffff7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffff" ] || die "apmask $ap"
[ -z "$(ls /sys/devices/vfio_ap/matrix/mdev_supported_types/vfio_ap-passthrough/devices)" ] || die "mdevs left"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "a usage domain that passes from one guest to another gets a note (keys stay in the domain): diff, apply, text and --json; a free domain gets none" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
conf() {
	cat > /etc/apmatrix.yaml <<YAML
version: 1
guests:
$1
  guest2:
    adapters: [0x05, 0x06]
    domains: [$2]
YAML
}
G1='  guest1:
    adapters: [0x05, 0x06]
    domains: [0x47, 0xab]'
conf "$G1" "0x04"
expect_exit 0 apmatrix apply 2>$T/err >/dev/null
# a free domain (the host's) to a guest: no such note
conf "$G1" "0x04, 0xff"
expect_exit 2 apmatrix diff 2>$T/err >/dev/null
! grep -q "takes usage domain" $T/err || die "free domain: $(cat $T/err)"
expect_exit 0 apmatrix apply 2>$T/err >/dev/null
! grep -q "takes usage domain" $T/err || die "free domain, apply: $(cat $T/err)"
# 0x47 passes from guest1 to guest2: one note, at guest2's entry
G1='  guest1:
    adapters: [0x05, 0x06]
    domains: [0xab]'
conf "$G1" "0x04, 0x47, 0xff"
N="guest 'guest2': takes usage domain 0x47 on adapters 0x05,0x06 (APQNs 05.0047 06.0047) from guest 'guest1': the domain keeps the master keys that 'guest1' set; zeroize it (TKE or HMC) unless 'guest2' may use the secure keys of 'guest1'"
ok() { M=$N jqe '[.diagnostics[] | select(.message | contains("takes usage domain"))] == [{"severity": "note", "file": "/etc/apmatrix.yaml", "line": 8, "column": 21, "guest": "guest2", "message": $ENV.M}]' "$1" >/dev/null; }
expect_exit 2 apmatrix diff 2>$T/err >/dev/null
[ "$(grep -c "takes usage domain" $T/err)" = 1 ] || die "diff: $(cat $T/err)"
grep -qxF "apmatrix: /etc/apmatrix.yaml:8:21: note: $N" $T/err || die "diff: $(cat $T/err)"
expect_exit 2 apmatrix diff --json >$T/d.json
ok $T/d.json || die "diff --json: $(cat $T/d.json)"
expect_exit 0 apmatrix apply --json >$T/a.json
ok $T/a.json || die "apply --json: $(cat $T/a.json)"
jqe '.changed == true and .failed == 0' $T/a.json >/dev/null || die "apply --json: $(cat $T/a.json)"
expect_exit 0 apmatrix diff 2>$T/err >/dev/null
! grep -q "takes usage domain" $T/err || die "converged: $(cat $T/err)"
# guest1 retired: its mdev (apmatrix made it) still holds 0xab when guest2 takes it
conf "" "0x04, 0x47, 0xab, 0xff"
expect_exit 2 apmatrix apply --dry-run 2>$T/err >/dev/null
grep -qF "note: guest 'guest2': takes usage domain 0xab on adapters 0x05,0x06 (APQNs 05.00ab 06.00ab) from guest 'guest1' (no longer declared): the domain keeps the master keys that 'guest1' set;" $T/err || die "retired: $(cat $T/err)"
expect_exit 0 apmatrix apply 2>$T/err >/dev/null
[ "$(grep -c "takes usage domain" $T/err)" = 1 ] || die "retired, apply: $(cat $T/err)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "two applies at once: one waits, both succeed, the state is exact and nothing is written twice" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
echo "delay devices/* 150" > /sys/.sim/fail
apmatrix apply > $T/a 2>&1 & a=$!
apmatrix apply > $T/b 2>&1 & b=$!
wait $a; ra=$?; wait $b; rb=$?
[ $ra = 0 ] && [ $rb = 0 ] || die "exit $ra/$rb: $(cat $T/a $T/b)"
[ "$(grep -c /create /sys/.sim/writes)" = 2 ] || die "creates: $(cat /sys/.sim/writes)"
[ -z "$(bad_writes)" ] || die "failed writes: $(bad_writes)"
cat $T/a $T/b | grep -qx "0 changes" || die "neither waited: $(cat $T/a $T/b)"
echo 0 > /sys/.sim/fail
expect_exit 0 apmatrix diff >/dev/null
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "apply waits for a holder of /run/lock/s390apconfig.lock; a stale lock of a dead PID is broken" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
hold_s390_lock
apmatrix apply > $T/out 2>&1 & ap=$!
sleep 1.5
[ "$(nwrites)" = 0 ] || die "wrote while the lock was held"
kill -0 $ap 2>/dev/null || die "apply did not wait: $(cat $T/out)"
release_s390_lock
wait $ap || die "apply failed: $(cat $T/out)"
[ "$(nwrites)" -gt 0 ] || die "nothing written"
printf '999999\n' > /run/lock/s390apconfig.lock
printf 'version: 1\nguests: {}\n' > /etc/apmatrix.yaml
timeout 10 apmatrix apply --wait 5 >/dev/null || die "stale lock not broken"
[ ! -e /run/lock/s390apconfig.lock ] || die "lock left behind"
# --wait is one wait for both locks: 2.5 s on apmatrix's own lock leave
# 0.5 s for the s390-tools lock, not another 3 s
flock -x /run/apmatrix/lock sleep 2.5 & fl=$!
sleep 0.3
hold_s390_lock
t0=$(date +%s%N)
apmatrix apply --wait 3 > $T/out 2> $T/err; rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
release_s390_lock
wait $fl
[ $rc = 75 ] || die "--wait 3: exit $rc"
# the wait was said when it began, naming the first lock that was busy
grep -qx "apmatrix: waiting up to 3 s for the lock /run/apmatrix/lock: process [0-9]* (flock) holds it" $T/err || die "--wait 3, start: $(cat $T/err)"
grep -q "cannot take the lock /run/lock/s390apconfig.lock: process [0-9]* (sleep) holds it (waited 3 s; see --wait)" $T/err || die "--wait 3: $(cat $T/err)"
[ $ms -ge 2500 ] && [ $ms -lt 4500 ] || die "--wait 3 returned after $ms ms"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "SIGTERM, SIGHUP during apply: the write under way ends, no other starts; records saved, one message, --json says so, exit 128+N; an ignored SIGINT stays ignored" {
	# the third write (guest1's create) takes 3 s: the signal comes while apply waits in it
	echo "VALIDATE='$TOP/tests/lib/schema-validate' S='$TOP/schema'" > "$BATS_TEST_TMPDIR/vars"
	in_sim "$HOSTS/seed.yaml" <<'EOF'
. $T/vars
# in_write PID SUFFIX: PID waits in a system call on a file whose path ends in SUFFIX
# (/proc/PID/syscall: the call's number, then its arguments; the first is the fd)
in_write() {
	local nr a0 rest
	read -r nr a0 rest < /proc/$1/syscall 2>/dev/null || return 1
	case $nr in running | -1) return 1 ;; esac
	case "$(readlink /proc/$1/fd/$((a0)) 2>/dev/null)" in *"$2") return 0 ;; esac
	return 1
}
wait_in_write() {
	for ((i = 0; i < 3000; i++)); do in_write $1 "$2" && return 0; sleep 0.01; done
	die "apply never wrote $2: $(cat /sys/.sim/writes)"
}
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
g1=$(uuid_of guest1); g2=$(uuid_of guest2)
clear_writes
echo "delay devices/vfio_ap/matrix/mdev_supported_types/*/create 3000" > /sys/.sim/fail
apmatrix apply --json > $T/out 2> $T/err & pid=$!
wait_in_write $pid /create
kill -TERM $pid
wait $pid; rc=$?
[ $rc = 143 ] || die "exit $rc, expected 143: $(cat $T/err)"
[ "$(nwrites)" = 3 ] || die "writes: $(cat /sys/.sim/writes)"
[ -z "$(bad_writes)" ] || die "failed writes: $(bad_writes)"
sed -n 3p /sys/.sim/writes | grep -q "/create	$g1	0$" || die "the create under way: $(cat /sys/.sim/writes)"
msg="interrupted by SIGTERM after 3 of 6 changes: the host is partly applied; run apmatrix apply again"
[ "$(grep -cx "apmatrix: $msg" $T/err)" = 1 ] || die "message: $(cat $T/err)"
[ "$(grep -c . $T/err)" = 1 ] || die "stderr: $(cat $T/err)"
jqe '.interrupted == "SIGTERM" and .changed and .done == 3 and .failed == 0 and (.actions | length) == 3 and
	all(.actions[]; .outcome == "done") and .actions[2].kind == "create mdev" and .actions[2].guest == "guest1" and
	.diagnostics[-1].message == "'"$msg"'"' < $T/out >/dev/null ||
	die "document: $(cat $T/out)"
v=$("$VALIDATE" "$S/apply.schema.json" $T/out) || die "validator: $v"
[ "$(sed -n 2p <<<"$v" | cut -d' ' -f1)" = valid ] || die "schema: $v"
# the records: what was done, as after a run that ended there; the locks released
grep -qx "mdev $g1 guest1" /run/apmatrix/state || die "records: $(cat /run/apmatrix/state)"
! grep -q "$g2" /run/apmatrix/state || die "records: $(cat /run/apmatrix/state)"
grep -q "^apmask-taken 0x04" /run/apmatrix/state || die "records: $(cat /run/apmatrix/state)"
[ ! -e /run/lock/s390apconfig.lock ] || die "s390 lock left"
# SIGHUP, without --json: guest2's create done, guest1's configuration under way, guest2's not started
echo clear > /sys/.sim/fail
echo "delay devices/vfio_ap/matrix/$g1/ap_config 3000" > /sys/.sim/fail
apmatrix apply > $T/out 2> $T/err & pid=$!
wait_in_write $pid "/$g1/ap_config"
kill -HUP $pid
wait $pid; rc=$?
[ $rc = 129 ] || die "exit $rc, expected 129: $(cat $T/err)"
[ "$(nwrites)" = 5 ] || die "writes: $(cat /sys/.sim/writes)"
grep -qx "apmatrix: interrupted by SIGHUP after 2 of 3 changes: the host is partly applied; run apmatrix apply again" $T/err ||
	die "message: $(cat $T/err)"
! grep -q "change" $T/out || die "a summary beside the message: $(cat $T/out)"
grep -q "guest1 .*: set matrix" $T/out || die "stdout: $(cat $T/out)"
# the next run finishes; a signal apmatrix inherits as ignored (SIGINT, in a background job) stays ignored
echo clear > /sys/.sim/fail
echo "delay devices/vfio_ap/matrix/$g2/ap_config 1500" > /sys/.sim/fail
apmatrix apply > $T/out 2> $T/err & pid=$!
for ((i = 0; i < 300; i++)); do [ -e /run/lock/s390apconfig.lock ] && break; sleep 0.02; done
sleep 0.4
kill -INT $pid
wait $pid || die "apply after the signals: $(cat $T/err)"
! grep -q SIGINT $T/err || die "SIGINT taken: $(cat $T/err)"
echo clear > /sys/.sim/fail
[ "$(tail -n 1 $T/out)" = "1 change" ] || die "next run: $(cat $T/out)"
apmatrix apply --json > $T/out || die "third apply"
jqe '.done == 0 and .interrupted == null' < $T/out >/dev/null || die "third run: $(cat $T/out)"
expect_exit 0 apmatrix diff >/dev/null
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "SIGTERM while apply waits for the locks ends the wait: nothing changed, the wait said and one message, --json says so, exit 143" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
mkdir -p /run/apmatrix
flock -o -x /run/apmatrix/lock -c "touch $T/held; exec sleep 60" >/dev/null 2>&1 & fl=$!
for i in $(seq 100); do [ -e $T/held ] && break; sleep 0.05; done
clear_writes
apmatrix apply --json --wait 60 > $T/out 2> $T/err & pid=$!
# it says when its wait starts, and waits with the lock file open
wait_msg="apmatrix: waiting up to 60 s for the lock /run/apmatrix/lock: process $fl (flock) holds it"
for ((i = 0; i < 3000; i++)); do grep -qxF "$wait_msg" $T/err && break; sleep 0.01; done
grep -qxF "$wait_msg" $T/err || die "apply never said it waits: $(cat $T/err)"
ls -l /proc/$pid/fd | grep -q '/run/apmatrix/lock$' || die "apply never waited: $(cat $T/err)"
kill -TERM $pid
wait $pid; rc=$?
kill $(pgrep -P $fl) $fl; wait $fl 2>/dev/null
[ $rc = 143 ] || die "exit $rc, expected 143: $(cat $T/err)"
[ "$(nwrites)" = 0 ] || die "wrote: $(cat /sys/.sim/writes)"
msg="interrupted by SIGTERM while waiting for the locks: nothing was changed"
[ "$(cat $T/err)" = "$wait_msg"$'\n'"apmatrix: $msg" ] || die "stderr: $(cat $T/err)"
MSG=$msg jqe '.interrupted == "SIGTERM" and .changed == false and .done == 0 and .actions == [] and
	.diagnostics[-1].message == $ENV.MSG' < $T/out >/dev/null || die "document: $(cat $T/out)"
expect_exit 0 apmatrix apply >/dev/null
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "SIGTERM while apply reads the configuration: taken once it is read; nothing changed, one message, --json says so, exit 143" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
# -c - from a FIFO that the shell holds open and has not written yet: apply
# waits in read(2) on its standard input (/proc/PID/syscall: the call's
# number, then its arguments; the first is the fd)
mkfifo $T/cfg
exec 3<>$T/cfg
in_read() {
	local nr a0 rest
	read -r nr a0 rest < /proc/$1/syscall 2>/dev/null || return 1
	case $nr in running | -1) return 1 ;; esac
	case "$(readlink /proc/$1/fd/$((a0)) 2>/dev/null)" in */cfg) return 0 ;; esac
	return 1
}
clear_writes
# (3>&-: apply holding the writing end too would never see the end of the file)
apmatrix apply --json -c - < $T/cfg > $T/out 2> $T/err 3>&- & pid=$!
for ((i = 0; i < 3000; i++)); do in_read $pid && break; sleep 0.01; done
in_read $pid || die "apply never read its configuration: $(cat $T/err)"
kill -TERM $pid
cat "$EXAMPLES/seed-two-guests.yaml" >&3
exec 3>&-
wait $pid; rc=$?
[ $rc = 143 ] || die "exit $rc, expected 143: $(cat $T/err)"
[ "$(nwrites)" = 0 ] || die "wrote: $(cat /sys/.sim/writes)"
msg="interrupted by SIGTERM while reading the configuration: nothing was changed"
[ "$(cat $T/err)" = "apmatrix: $msg" ] || die "stderr: $(cat $T/err)"
MSG=$msg jqe '.interrupted == "SIGTERM" and .changed == false and .done == 0 and .actions == [] and
	.diagnostics[-1].message == $ENV.MSG' < $T/out >/dev/null || die "document: $(cat $T/out)"
[ ! -e /run/apmatrix/lock ] && [ ! -e /run/lock/s390apconfig.lock ] || die "locks taken"
expect_exit 0 apmatrix apply -c - < "$EXAMPLES/seed-two-guests.yaml" >/dev/null
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "the holder of /run/lock/s390apconfig.lock is named with its comm escaped: one line a message, no escape sequence (text and --json); busy is exit 75" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
# a holder that names itself "x", ESC "[31my", newline, "z" (one write: bash
# would write up to each newline separately, and each write renames)
perl -e 'open(my $f, ">", "/proc/self/comm") or die; syswrite($f, "x\e[31my\nz") == 9 or die; close($f); sleep 30' & holder=$!
for _ in $(seq 100); do [ "$(od -An -c /proc/$holder/comm 2>/dev/null | tr -d ' ')" = 'x033[31my\nz\n' ] && break; sleep 0.05; done
[ "$(od -An -c /proc/$holder/comm | tr -d ' ')" = 'x033[31my\nz\n' ] || die "comm not set: $(od -c /proc/$holder/comm)"
echo $holder > /run/lock/s390apconfig.tmp && ln /run/lock/s390apconfig.tmp /run/lock/s390apconfig.lock && rm /run/lock/s390apconfig.tmp
msg="cannot take the lock /run/lock/s390apconfig.lock: process $holder (x\\x1b[31my\\x0az) holds it (waited 1 s; see --wait)"
apmatrix apply --wait 1 > $T/out 2> $T/err; rc=$?
apmatrix --json apply --wait 1 > $T/a.json 2>/dev/null; jrc=$?
release_s390_lock
[ $rc = 75 ] && [ $jrc = 75 ] || die "exit $rc, --json $jrc"
[ ! -s $T/out ] || die "stdout: $(cat $T/out)"
# the wait said when it starts, then the failure: two lines, one each
[ "$(wc -l < $T/err)" = 2 ] || die "not two lines: $(od -c $T/err)"
! grep -q $'\e' $T/err || die "an ESC reached stderr: $(od -c $T/err)"
wait_msg="waiting up to 1 s for the lock /run/lock/s390apconfig.lock: process $holder (x\\x1b[31my\\x0az) holds it"
[ "$(head -n 1 $T/err)" = "apmatrix: $wait_msg" ] || die "first line: $(od -c $T/err)"
grep -qxF "apmatrix: $msg" $T/err || die "message: $(od -c $T/err)"
M=$msg jqe '.diagnostics == [{"severity": "error", "file": null, "line": null, "column": null, "guest": null, "message": $ENV.M}]' $T/a.json >/dev/null || die "--json: $(cat $T/a.json)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "errors that leave nothing to do (vfio_ap not loaded, a foreign mdev) print no \"0 changes\": diff, apply, -q, --json" {
	sed 's/^vfio_ap: loaded/vfio_ap: unloaded/' "$HOSTS/seed.yaml" >"$BATS_TEST_TMPDIR/novfio.yaml"
	in_sim "$BATS_TEST_TMPDIR/novfio.yaml" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
msg="apmatrix: vfio_ap is not loaded (no devices/vfio_ap/matrix): guests are declared but no mdev can be created"
for cmd in diff "diff --shell" "apply --dry-run" "apply -n --shell" apply "apply -q"; do
	apmatrix $cmd > $T/out 2> $T/err; rc=$?
	[ $rc = 1 ] || die "$cmd: exit $rc"
	[ ! -s $T/out ] || die "$cmd: stdout $(cat $T/out)"
	[ "$(cat $T/err)" = "$msg" ] || die "$cmd: stderr $(cat $T/err)"
done
[ "$(nwrites)" = 0 ] || die "wrote"
# the documents stay what they were: counts of 0 beside the error, no claim of success
apmatrix --json diff > $T/d.json 2>/dev/null; rc=$?
[ $rc = 1 ] || die "diff --json: exit $rc"
M=${msg#apmatrix: } jqe '.changes == 0 and .actions == [] and (.diagnostics | length == 1 and .[0].severity == "error" and .[0].message == $ENV.M)' $T/d.json >/dev/null || die "diff --json: $(cat $T/d.json)"
apmatrix --json apply > $T/a.json 2>/dev/null; rc=$?
[ $rc = 1 ] || die "apply --json: exit $rc"
M=${msg#apmatrix: } jqe '.changed == false and .done == 0 and .failed == 0 and (.diagnostics | length == 1 and .[0].severity == "error" and .[0].message == $ENV.M)' $T/a.json >/dev/null || die "apply --json: $(cat $T/a.json)"
# once vfio_ap is loaded the summary is there again
echo vfio_ap > /sys/.sim/modprobe
apmatrix apply > $T/out 2> $T/err || die "apply after modprobe: $(cat $T/err)"
tail -1 $T/out | grep -qx "[1-9][0-9]* changes" || die "summary: $(cat $T/out)"
[ "$(apmatrix apply)" = "0 changes" ] || die "second apply"
[ "$(apmatrix diff)" = "0 changes" ] || die "diff after apply"
# a foreign mdev in the way of the one guest declared: the same
printf 'version: 1\nguests: {}\n' > /etc/apmatrix.yaml
apmatrix apply >/dev/null 2>&1 || die "removing the guests"
F=7d1c0000-0000-4000-8000-000000000001
echo -0x05 > /sys/bus/ap/apmask
echo $F > /sys/devices/vfio_ap/matrix/mdev_supported_types/vfio_ap-passthrough/create
echo 0x05 > $(mdev_dir $F)/assign_adapter
echo 0x47 > $(mdev_dir $F)/assign_domain
printf 'version: 1\nguests:\n  guest2:\n    adapters: [0x05]\n    domains: [0x47, 0xff]\n' > /etc/apmatrix.yaml
clear_writes
for cmd in diff "diff --shell" apply; do
	apmatrix $cmd > $T/out 2> $T/err; rc=$?
	[ $rc = 1 ] || die "foreign, $cmd: exit $rc"
	[ ! -s $T/out ] || die "foreign, $cmd: stdout $(cat $T/out)"
	grep -qF "guest 'guest2': APQN 05.0047 is assigned to mdev $F (not managed by apmatrix); remove it (echo 1 > /sys/devices/vfio_ap/matrix/$F/remove) once its guest is stopped, or declare it: uuid: $F on the guest that should have the queue" $T/err || die "foreign, $cmd: stderr $(cat $T/err)"
	[ "$(wc -l < $T/err)" = 1 ] || die "foreign, $cmd: stderr $(cat $T/err)"
done
[ "$(nwrites)" = 0 ] || die "foreign: wrote"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "a non-root user's diff, status and show read apmatrix's records after root applied; records left 0700/0600 are opened up; apply says it runs as root" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
(umask 077; apmatrix apply >/dev/null) || die "apply"
[ "$(stat -c %a /run/apmatrix)" = 755 ] || die "rundir mode $(stat -c %a /run/apmatrix)"
[ "$(stat -c %a /run/apmatrix/state)" = 644 ] || die "state mode $(stat -c %a /run/apmatrix/state)"
[ "$(stat -c %a /run/apmatrix/cards)" = 644 ] || die "cards mode $(stat -c %a /run/apmatrix/cards)"
[ "$(stat -c %a /run/apmatrix/lock)" = 600 ] || die "lock mode $(stat -c %a /run/apmatrix/lock)"
mkdir -m 755 /run/u && cp /etc/apmatrix.yaml /run/u/c.yaml && chown -R nobody /run/u
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups apmatrix -c /run/u/c.yaml "$@"; }
check_nobody() {
	[ "$(as_nobody diff 2>&1)" = "0 changes" ] || die "$1: diff: $(as_nobody diff 2>&1)"
	as_nobody status > $T/out 2>&1 || die "$1: status: $(cat $T/out)"
	[ "$(grep -c ' matches$' $T/out)" = 2 ] || die "$1: status: $(cat $T/out)"
	as_nobody show > $T/out 2>&1 || die "$1: show: $(cat $T/out)"
}
check_nobody "after apply"
# apply: the lock is root's; the message says why it cannot be taken
echo 0 > /sys/.sim/writes
as_nobody apply > $T/out 2>&1; rc=$?
[ $rc = 1 ] || die "nobody's apply: exit $rc, $(cat $T/out)"
[ "$(cat $T/out)" = "apmatrix: cannot take the lock /run/apmatrix/lock: Permission denied; apply changes the host and runs as root" ] ||
	die "nobody's apply: $(cat $T/out)"
[ "$(nwrites)" = 0 ] || die "nobody's apply wrote"
# as an earlier version left them (and a converged apply writes no state)
chmod 700 /run/apmatrix && chmod 600 /run/apmatrix/state
as_nobody diff >/dev/null 2>&1 && die "nobody read 0700 records"
[ "$(apmatrix apply)" = "0 changes" ] || die "converged apply"
check_nobody "after a converged apply"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "a failed write stops that guest only; the next run repairs it" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
g1=$(uuid_of guest1); g2=$(uuid_of guest2)
echo "devices/vfio_ap/matrix/$g1/ap_config EIO 1" > /sys/.sim/fail
apmatrix apply > $T/out 2> $T/err; rc=$?
[ $rc = 1 ] || die "exit $rc"
grep -q "guest1.*(EIO)" $T/err || die "message: $(cat $T/err)"
[ "$(cat $(mdev_dir $g2)/matrix | wc -l)" = 2 ] || die "guest2 not brought up"
expect_exit 0 apmatrix apply >/dev/null
[ "$(cat $(mdev_dir $g1)/matrix | wc -l)" = 4 ] || die "guest1 not repaired"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "5.15: a guest the plan refuses does not leave the other guests' new mdevs empty; each message once; the summary and --json name it as left out" {
	# 5.15 is told from an mdev: apply creates the mdevs first, then plans
	# the rest; guest1's card 06 is absent, which 5.15 cannot assign
	t=$(seed_topo 5.15)
	sed -i '/id: 0x06/d' "$t"
	echo "VALIDATE='$TOP/tests/lib/schema-validate' S='$TOP/schema'" > "$BATS_TEST_TMPDIR/vars"
	in_sim "$t" <<'EOF'
. $T/vars
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
apmatrix apply > $T/out 2> $T/err; rc=$?
cat $T/err $T/out
[ $rc = 1 ] || die "exit $rc"
[ "$(grep -c "guest 'guest1': APQN 06.0004 does not exist on this host" $T/err)" = 1 ] || die "error not said exactly once"
# and no "not configured in this LPAR now (assigned all the same" warning beside it: 5.15 does not
[ "$(grep -c "not configured in this LPAR" $T/err)" = 0 ] || die "contradicting LPAR warning: $(cat $T/err)"
[ "$(wc -l < $T/err)" = 2 ] || die "stderr: $(cat $T/err)"
# status says guest1 is left out, as diff and apply leave it
apmatrix status --json 2>/dev/null | jqe '[.guests[].state] == ["left_out","matches"] and
	.guests[0].left_out == "APQN 06.0004 does not exist on this host; kernels before 6.0 cannot assign absent queues"' >/dev/null ||
	die "status: $(apmatrix status)"
clear_writes
apmatrix apply --json > $T/json 2>/dev/null; rc=$?
[ $rc = 1 ] && [ "$(nwrites)" = 0 ] || die "second apply: exit $rc, $(nwrites) writes"
jqe '.left_out == ["guest1"] and .done == 0' < $T/json >/dev/null || die "json: $(cat $T/json)"
"$VALIDATE" "$S/apply.schema.json" $T/json >/dev/null || die "schema: $("$VALIDATE" "$S/apply.schema.json" $T/json)"
echo OK
EOF
	assert_success
	assert_output --partial OK
	assert_line "7 changes; guest 'guest1' left out (see its errors)"
}

@test "5.15: a create that fails does not leave the other guests' new mdevs empty; the next run repairs it" {
	in_sim "$(seed_topo 5.15)" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
g1=$(uuid_of guest1); g2=$(uuid_of guest2)
echo "devices/vfio_ap/matrix/mdev_supported_types/*/create EIO 1" > /sys/.sim/fail
apmatrix apply > $T/out 2> $T/err; rc=$?
cat $T/err $T/out
[ $rc = 1 ] || die "exit $rc"
[ ! -d "$(mdev_dir $g1)" ] || die "guest1's create did not fail"
apmatrix status --json | jqe '[.guests[].state] == ["absent","matches"]' >/dev/null || die "status: $(apmatrix status)"
[ "$(grep -c 'create.*(EIO)' $T/err)" = 1 ] || die "create tried more than once"
grep -q "guest1: assign adapter 0x05: not tried: an earlier step for guest 'guest1' failed" $T/err || die "no skip said"
expect_repaired matches matches
echo OK
EOF
	assert_success
	assert_output --partial OK
	assert_line "9 changes applied, 1 failed, 6 skipped"
	assert_line "~ aqmask: give 0x04 0xab back to host drivers (the change of guest 'guest1' that needs them failed: the next run takes them again; 2 queues return to the host drivers: 06.0004 06.00ab)"
}

@test "show of a guest whose create failed in the last apply, on a host where vfio_ap is not loaded now: not 'run apmatrix apply'" {
	in_sim "$(seed_topo 6.12)" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
echo "devices/vfio_ap/matrix/mdev_supported_types/*/create EIO 1" > /sys/.sim/fail
expect_exit 1 apmatrix apply > /dev/null 2>&1
apmatrix show guest1 2>/dev/null | grep -qx "  mdev             absent (the last apply failed to create it: EIO; run apmatrix apply)" ||
	die "show: $(apmatrix show guest1 2>&1)"
mkdir $T/rd && cp -a /run/apmatrix/. $T/rd/
EOF
	assert_success
	# the same records (this boot's) on the host without vfio_ap loaded
	t=$(seed_topo 6.12)
	sed -i 's/^vfio_ap: loaded$/vfio_ap: unloaded/' "$t"
	grep -qx 'vfio_ap: unloaded' "$t"
	in_sim "$t" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
mkdir -p /run/apmatrix && cp -a $T/rd/. /run/apmatrix/
apmatrix show guest1 > $T/out 2>&1
grep -qx "  mdev             absent (the last apply failed to create it: EIO; vfio_ap is not loaded: it cannot be created)" $T/out ||
	die "show: $(cat $T/out)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "status and show tell a guest whose create failed in the last apply (RUNDIR/failed, text and --json) from one not tried; a state written since, or an apply that creates it, ends that" {
	echo "VALIDATE='$TOP/tests/lib/schema-validate' S='$TOP/schema'" > "$BATS_TEST_TMPDIR/vars"
	in_sim "$(seed_topo 6.12)" <<'EOF'
. $T/vars
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
g1=$(uuid_of guest1); g2=$(uuid_of guest2)
# not tried yet: absent, no more
apmatrix status > $T/st
grep -qE "^guest1 +$g1  absent$" $T/st || die "before: $(cat $T/st)"
apmatrix status --json | jqe '[.guests[].create_failed] == [null, null]' >/dev/null || die "before: $(apmatrix status --json | jq -c .guests)"
echo "devices/vfio_ap/matrix/mdev_supported_types/*/create EIO 1" > /sys/.sim/fail
expect_exit 1 apmatrix apply > /dev/null 2>&1
[ ! -d "$(mdev_dir $g1)" ] || die "guest1's create did not fail"
[ "$(cat /run/apmatrix/failed)" = "apmatrix-failed 1
create $g1 EIO" ] || die "RUNDIR/failed: $(cat /run/apmatrix/failed)"
# the state keeps version 1 and its lines (what every version reads): no line for the failure
head -1 /run/apmatrix/state | grep -qx "apmatrix-state 1" || die "state: $(cat /run/apmatrix/state)"
! grep -q "$g1" /run/apmatrix/state || die "state: $(cat /run/apmatrix/state)"
apmatrix status > $T/st
grep -qE "^guest1 +$g1  absent: the last apply failed to create it \(EIO\)$" $T/st || die "status: $(cat $T/st)"
grep -qE "^guest2 +$g2  matches$" $T/st || die "status: $(cat $T/st)"
apmatrix status --json > $T/st.json
jqe '[.guests[] | [.name, .state, .create_failed]] == [["guest1", "absent", {"errno": "EIO"}], ["guest2", "matches", null]]' $T/st.json >/dev/null ||
	die "json: $(jq -c .guests $T/st.json)"
"$VALIDATE" "$S/status.schema.json" $T/st.json >/dev/null || die "schema: $("$VALIDATE" "$S/status.schema.json" $T/st.json)"
apmatrix show guest1 2>/dev/null | grep -qx "  mdev             absent (the last apply failed to create it: EIO; run apmatrix apply)" ||
	die "show: $(apmatrix show guest1 2>&1)"
apmatrix show --json guest1 2>/dev/null | jqe '.guests[0].create_failed == {"errno": "EIO"}' >/dev/null || die "show --json: $(apmatrix show --json guest1)"
# status wrote nothing
[ "$(cat /run/apmatrix/failed)" = "apmatrix-failed 1
create $g1 EIO" ] || die "RUNDIR/failed after status: $(cat /run/apmatrix/failed)"
# a state written since (an apply of a version that does not know the file): not trusted
touch -d '+1 minute' /run/apmatrix/state
apmatrix status > $T/st
grep -qE "^guest1 +$g1  absent$" $T/st || die "after a later state: $(cat $T/st)"
apmatrix status --json | jqe '.guests[0].create_failed == null' >/dev/null || die "after a later state: $(apmatrix status --json | jq -c .guests)"
# a line it cannot read is skipped, the others are read
printf 'apmatrix-failed 1\ncreate bogus EIO\ncreate %s\ncreate %s ENOSPC\nwhat else\n' "$g2" "$g1" > /run/apmatrix/failed
touch -d '+2 minutes' /run/apmatrix/failed
grep -qE "^guest1 +$g1  absent: the last apply failed to create it \(ENOSPC\)$" <(apmatrix status) || die "lenient: $(apmatrix status)"
# no state (moved aside, as apmatrix(8) tells for a damaged one): every create writes one, so the note is older
mv /run/apmatrix/state $T/state
grep -qE "^guest1 +$g1  absent$" <(apmatrix status) || die "without a state: $(apmatrix status)"
mv $T/state /run/apmatrix/state
# the next apply creates it: the file goes
expect_exit 0 apmatrix apply -q
[ ! -e /run/apmatrix/failed ] || die "RUNDIR/failed left: $(cat /run/apmatrix/failed)"
apmatrix status --json | jqe '[.guests[] | [.state, .create_failed]] == [["matches", null], ["matches", null]]' >/dev/null ||
	die "after repair: $(apmatrix status --json | jq -c .guests)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "5.15: a mask write that fails stops only the guests that need it; it is written once; the next run repairs it" {
	# card 05 already belongs to vfio_ap (apmask bit 5 clear): guest1 needs
	# no mask write, guest2 needs domain 0x47 taken from the host
	t=$(seed_topo 5.15)
	sed -i 's/^vfio_ap: loaded/&\napmask: 0xfb/' "$t"
	in_sim "$t" <<'EOF'
cat >/etc/apmatrix.yaml <<'Y'
version: 1
guests:
  guest1:
    adapters: [0x05]
    domains: [0x04]
  guest2:
    adapters: [0x06]
    domains: [0x47]
Y
apmatrix diff | grep -qx '~ aqmask: take 0x47 from host drivers (guest2 needs them)' || die "plan: $(apmatrix diff)"
echo "bus/ap/aqmask EIO 1" > /sys/.sim/fail
apmatrix apply > $T/out 2> $T/err; rc=$?
cat $T/err $T/out
[ $rc = 1 ] || die "exit $rc"
[ "$(grep -c '^bus/ap/aqmask' /sys/.sim/writes)" = 1 ] || die "aqmask written $(grep -c '^bus/ap/aqmask' /sys/.sim/writes) times"
grep -qx "apmatrix: aqmask: take 0x47 from host drivers (guest2 needs them): Input/output error (EIO)" $T/err || die "no error said"
grep -qx "apmatrix: warning: guest2: assign adapter 0x06: not tried: it needs an earlier step that failed" $T/err || die "no skip said"
# the topology's apmask 0xfb clears adapters 0x05 and 0x08-0x3f: not apmatrix's doing
grep -qx "apmatrix: note: apmask 0x05,0x08-0x3f were taken from the host outside apmatrix (boot setting, chzdev or by hand): the planned mask changes leave them as they are and plan around them" $T/err || die "no outside note"
[ "$(wc -l < $T/err)" = 5 ] || die "stderr: $(cat $T/err)"
apmatrix status --json | jqe '[.guests[].state] == ["matches","differs"]' >/dev/null || die "status: $(apmatrix status)"
apmatrix status --json | jqe '.taken.aqmask == []' >/dev/null || die "a claim on the mask bit that stayed the host's: $(apmatrix status --json | jq -c .taken)"
expect_repaired matches matches
echo OK
EOF
	assert_success
	assert_output --partial OK
	assert_line "5 changes applied, 1 failed, 3 skipped"
}

@test "a failed mask take stops only the guests whose queues the other mask's written take leaves with the host" {
	# apmask 0x05 is written, aqmask 0x04 0x47 0xab fails: guest2's queues
	# (05.0047 05.00ff) are off the host drivers through apmask alone, so its
	# change goes ahead; guest1 (06.0004 06.00ab) and guest3 (06.0047) need
	# the failed take and wait for the next run
	for kernel in 6.12 6.0 5.15; do
		in_sim "$(seed_topo $kernel)" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
printf '  guest3:\n    adapters: [0x06]\n    domains: [0x47]\n' >> /etc/apmatrix.yaml
apmatrix diff | grep -qx '~ aqmask: take 0x04 0x47 0xab from host drivers (guest1, guest2, guest3 need them)' || die "plan: $(apmatrix diff)"
echo "bus/ap/aqmask EIO 1" > /sys/.sim/fail
expect_exit 1 apmatrix apply > $T/out 2> $T/err
[ "$(bad_writes | cut -f1,3 | tr '\t' ' ')" = "bus/ap/aqmask EIO" ] || die "failed writes: $(bad_writes)"
grep -q "guest2.*not tried" $T/err && die "guest2 skipped: $(cat $T/err)"
grep -q "guest1.*not tried: it needs an earlier step that failed" $T/err || die "guest1 not skipped: $(cat $T/err)"
grep -q "guest3.*not tried: it needs an earlier step that failed" $T/err || die "guest3 not skipped: $(cat $T/err)"
apmatrix status --json | jqe '[.guests[] | .state == "matches"] == [false, true, false]' >/dev/null || die "status: $(apmatrix status)"
expect_repaired matches matches matches
clear_writes
expect_exit 0 apmatrix apply -q
[ "$(nwrites)" = 0 ] || die "converged run wrote: $(cat /sys/.sim/writes)"
echo OK
EOF
		assert_success
		assert_output --partial OK
	done
}

@test "a failed step leaves the mask take that only the steps it stops need unwritten: the host keeps its queues until the next run, which repairs the guests" {
	for kernel in 5.15 6.0; do
		t=$(seed_topo3 $kernel)
		in_sim "$t" <<'EOF'
three_guests
g1=$(uuid_of g1)
# g1 gives 06.00ab to g2 and gains 05.0004; g2 moves to 06 and 07 with 0xab 0xff
printf 'version: 1\nguests:\n  g1:\n    adapters: [0x05]\n    domains: [0x47, 0x04]\n  g2:\n    adapters: [0x06, 0x07]\n    domains: [0xab, 0xff]\n  g3:\n    adapters: [0x07]\n    domains: [0x47]\n' > /etc/apmatrix.yaml
apmatrix diff | grep -q '^~ apmask: take 0x05 0x06 from host drivers (g1, g2 need them' || die "plan: $(apmatrix diff)"
host_queues=$(ls /sys/bus/ap/drivers/cex4queue | grep -c '\.')
echo "*$g1/unassign_domain EIO 1" > /sys/.sim/fail
clear_writes
expect_exit 1 apmatrix apply > $T/out 2> $T/err
[ "$(bad_writes | cut -f1,3 | tr '\t' ' ')" = "devices/vfio_ap/matrix/$g1/unassign_domain EIO" ] || die "failed writes: $(bad_writes)"
grep -q '^apmatrix: warning: apmask: take 0x05 0x06 from host drivers (.*): not tried: the steps that need it are not tried (an earlier step failed)$' $T/err ||
	die "stderr: $(cat $T/err)"
! grep -q '^bus/ap/' /sys/.sim/writes || die "a mask written: $(cat /sys/.sim/writes)"
[ "$(ls /sys/bus/ap/drivers/cex4queue | grep -c '\.')" = "$host_queues" ] || die "host queues: $(ls /sys/bus/ap/drivers/cex4queue)"
expect_repaired matches matches matches
clear_writes
expect_exit 0 apmatrix apply -q
[ "$(nwrites)" = 0 ] || die "converged run wrote: $(cat /sys/.sim/writes)"
echo OK
EOF
		assert_success
		assert_output --partial OK
	done
}

@test "a guest whose change fails after its mask take: the run gives the bits back, so that the host keeps its queues until the next run, which repairs the guest" {
	for kernel in 6.12 6.5; do
		in_sim "$(seed_topo $kernel)" <<'EOF'
printf 'version: 1\nguests:\n  g1:\n    adapters: [0x05]\n    domains: [0x04, 0x47, 0xab]\n' > /etc/apmatrix.yaml
apmatrix apply -q || die "bring-up"
g1=$(uuid_of g1)
# g1 moves to card 0x06: take 0x06, move, give 0x05 back; the move fails
sed -i 's/adapters: \[0x05\]/adapters: [0x06]/' /etc/apmatrix.yaml
printf '%s\n' "*$g1/ap_config EIO 1" "*$g1/assign_adapter EIO 1" > /sys/.sim/fail
clear_writes
apmatrix apply --json > $T/json 2> $T/err; rc=$?
[ $rc = 1 ] || die "exit $rc: $(cat $T/err)"
grep -qx "bus/ap/apmask	-0x06	0" /sys/.sim/writes || die "no take: $(cat /sys/.sim/writes)"
grep -qx "bus/ap/apmask	+0x06	0" /sys/.sim/writes || die "take kept: $(cat /sys/.sim/writes)"
# never a bit the mdev still holds (6.12: ap_config failed whole, 6.5: the
# unassign of 0x05 comes after the assign that failed; g1 keeps card 05)
for a in $(grep -o "^[0-9a-f][0-9a-f]\." $(mdev_dir $g1)/matrix | cut -c1-2 | sort -u); do
	! grep -q "apmask	+0x$a" /sys/.sim/writes || die "gave back 0x$a, which g1 holds: $(cat /sys/.sim/writes)"
done
[ ! -e $(mdev_dir $g1)/ap_config ] || grep -q "^05\." $(mdev_dir $g1)/matrix || die "ap_config: g1 lost card 05"
# the host has card 06 as before the run
[ "$(ls -d /sys/bus/ap/drivers/cex4queue/06.* | wc -l)" = 4 ] || die "host queues: $(ls /sys/bus/ap/drivers/cex4queue)"
# in a round of its own, planned with g1 left as it is
jqe '.failed == 1 and ([.actions[] | select(.kind == "release apmask" and .round == 2)] |
	length == 1 and .[0].outcome == "done" and .[0].writes[0].value == "+0x06" and (.[0].reason == "the change of guest '"'g1'"' that needs them failed: the next run takes them again; 4 queues return to the host drivers: 06.0004 06.0047 06.00ab 06.00ff") and .[0].queues == ["06.0004", "06.0047", "06.00ab", "06.00ff"])' $T/json > /dev/null ||
	die "JSON: $(jq -c '.actions' $T/json)"
# the records keep the bits of what g1's mdev holds, no more
held=$(grep -o "^[0-9a-f][0-9a-f]\." $(mdev_dir $g1)/matrix | cut -c1-2 | sort -u | while read -r a; do printf '%d,' 0x$a; done)
[ "$(apmatrix status --json | jq -c .taken.apmask)" = "[${held%,}]" ] || die "records: $(apmatrix status --json | jq -c .taken), held [$held]"
expect_repaired matches
[ -z "$(ls /sys/bus/ap/drivers/cex4queue | grep '^06\.')" ] && [ "$(ls -d /sys/bus/ap/drivers/cex4queue/05.* | wc -l)" = 4 ] ||
	die "after repair: $(ls /sys/bus/ap/drivers/cex4queue)"
echo OK
EOF
		assert_success
		assert_output --partial OK
	done
}

@test "a guest's failed write: of two bits that would both give back an APQN its mdev keeps, the one the mdev's other adapter needs stays, the other goes back (review 22 F1)" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
printf 'version: 1\nguests:\n  guest1:\n    adapters: [0x05, 0x06]\n    domains: [0x04]\n' > /etc/apmatrix.yaml
apmatrix apply -q || die "bring-up"
g1=$(uuid_of guest1)
ff=ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff # 62 digits
[ "$(cat /sys/bus/ap/apmask)" = "0xff$ff" ] && [ "$(cat /sys/bus/ap/aqmask)" = "0xf7$ff" ] ||
	die "masks after bring-up: $(cat /sys/bus/ap/apmask /sys/bus/ap/aqmask)"
# guest1 moves to card 05 with all four domains: apmask 0x05 taken, then the write fails
printf 'version: 1\nguests:\n  guest1:\n    adapters: [0x05]\n    domains: [0x04, 0x47, 0xab, 0xff]\n' > /etc/apmatrix.yaml
echo 'devices/vfio_ap/matrix/*/ap_config EIO 100' > /sys/.sim/fail
clear_writes
apmatrix apply --json > $T/json 2> $T/err; rc=$?
[ $rc = 1 ] || die "exit $rc: $(cat $T/err)"
# the mdev keeps 05.0004 and 06.0004: aqmask 0x04 alone keeps them from the host,
# and 06.0004 needs it (apmask 0x06 is the host's); apmask 0x05 goes back
got=$(awk -F'\t' '{ sub(/.*\//, "", $1); print $1, ($1 ~ /mask$/ ? $2 " " : "") $3 }' /sys/.sim/writes | tr '\n' ',')
[ "$got" = "apmask -0x05 0,ap_config EIO,apmask +0x05 0," ] || die "writes: $(cat /sys/.sim/writes)"
[ "$(cat $(mdev_dir $g1)/matrix | tr '\n' ' ')" = "05.0004 06.0004 " ] || die "matrix: $(cat $(mdev_dir $g1)/matrix)"
[ "$(cat /sys/bus/ap/apmask)" = "0xff$ff" ] && [ "$(cat /sys/bus/ap/aqmask)" = "0xf7$ff" ] ||
	die "masks: $(cat /sys/bus/ap/apmask /sys/bus/ap/aqmask)"
# no queue left on vfio_ap that no mdev holds
[ "$(ls /sys/bus/ap/drivers/vfio_ap | grep '^0' | tr '\n' ' ')" = "05.0004 06.0004 " ] || die "vfio_ap: $(ls /sys/bus/ap/drivers/vfio_ap)"
jqe '[.actions[] | select(.kind == "release apmask")] | length == 1 and .[0].outcome == "done" and .[0].queues == ["05.0047", "05.00ab", "05.00ff"]' < $T/json >/dev/null ||
	die "JSON: $(jq -c '.actions' $T/json)"
apmatrix status --json | jqe '.taken.apmask == [] and .taken.aqmask == [4]' >/dev/null || die "taken: $(apmatrix status --json | jq -c .taken)"
# the next run takes apmask 0x05 again and moves the guest
echo clear > /sys/.sim/fail
expect_exit 0 apmatrix apply -q
[ "$(cat $(mdev_dir $g1)/matrix | tr '\n' ' ')" = "05.0004 05.0047 05.00ab 05.00ff " ] || die "after: $(cat $(mdev_dir $g1)/matrix)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "6.12: a guest's failed write after a take of its adapter: the give-back of the other mask that leaves its held queue to the take does not wait for it where the round after would keep the take anyway (review 22 F1)" {
	t=$(seed_topo_07_0a)
	in_sim "$t" <<'EOF2'
cat > /etc/apmatrix.yaml <<'Y'
version: 1
guests:
  gx: {adapters: [0x05, 0x06, 0x08, 0x09], domains: [0x47, 0xab]}
  gy: {adapters: [0x07], domains: [0xab]}
Y
expect_exit 0 apmatrix apply -q
gy=$(uuid_of gy)
# gx drops 0xab, gy takes all of card 07: apmask 0x07 taken, aqmask 0xab
# given back, which leaves gy's 07.00ab to the take.  Should gy's write
# fail, the round after would keep apmask 0x07 (its give-back returns 3
# queues, that of aqmask 0xab 4): the give-back waits for gx only
cat > /etc/apmatrix.yaml <<'Y'
version: 1
guests:
  gx: {adapters: [0x05, 0x06, 0x08, 0x09], domains: [0x47]}
  gy: {adapters: [0x07], domains: [0x04, 0x47, 0xab, 0xff]}
Y
apmatrix diff --json 2>/dev/null | jqe '[.actions[] | [.kind, .guest, .depends_on]] == [["take apmask", null, []],
	["write ap_config", "gx", []], ["write ap_config", "gy", [0]], ["release aqmask", null, [1]]]' >/dev/null ||
	die "plan: $(apmatrix diff --json 2>/dev/null | jq -c '[.actions[] | [.kind, .guest, .depends_on]]')"
clear_writes
echo "*$gy/ap_config EIO 1" > /sys/.sim/fail
apmatrix apply --json > $T/out 2> $T/err; rc=$?
[ $rc = 1 ] || die "exit $rc, expected 1: $(cat $T/err)"
[ "$(bad_writes | cut -f3)" = EIO ] || die "failed writes: $(bad_writes)"
! grep -q "not tried" $T/err || die "apply said: $(cat $T/err)"
jqe '.failed == 1 and .skipped == 0 and ([.actions[] | select(.kind | startswith("take ") or startswith("release ")) | [.kind, .outcome, .round]] ==
	[["take apmask", "done", 1], ["release aqmask", "done", 1]])' $T/out >/dev/null ||
	die "JSON: $(jq -c '[.failed, .skipped, [.actions[] | [.kind, .guest, .outcome, .round]]]' $T/out)"
[ "$(basename $(readlink /sys/devices/ap/card07/07.00ab/driver))" = vfio_ap ] || die "07.00ab handed to the host"
grep -qx 07.00ab $(mdev_dir $gy)/matrix || die "gy lost 07.00ab: $(cat $(mdev_dir $gy)/matrix)"
[ "$(basename $(readlink /sys/devices/ap/card05/05.00ab/driver))" = cex4queue ] || die "05.00ab not given back"
clear_writes
expect_exit 0 apmatrix apply > /dev/null
[ "$(cut -f1 /sys/.sim/writes)" = "devices/vfio_ap/matrix/$gy/ap_config" ] || die "writes: $(cat /sys/.sim/writes)"
expect_exit 0 apmatrix diff > /dev/null
[ "$(cat $(mdev_dir $gy)/matrix | tr '\n' ' ')" = "07.0004 07.0047 07.00ab 07.00ff " ] || die "gy: $(cat $(mdev_dir $gy)/matrix)"
echo OK
EOF2
	assert_success
	assert_output --partial OK
}

@test "the round after a guest's failed step only gives back: a plan that would take other mask bits is not made; a second ap_config write of the failed guest is said and counted" {
	cat > "$BATS_TEST_TMPDIR/three.yaml" <<'EOT'
kernel: 6.12
vfio_ap: loaded
max_adapter: 0x3f
max_domain: 0xff
cards:
  - {id: 0x05, type: CEX5C, mode: cca, domains: [0x03, 0x04]}
  - {id: 0x06, type: CEX5C, mode: cca, domains: [0x03, 0x04]}
  - {id: 0x07, type: CEX5C, mode: cca, domains: [0x03, 0x04]}
EOT
	in_sim "$BATS_TEST_TMPDIR/three.yaml" <<'EOF'
printf 'version: 1\nguests:\n  g1:\n    adapters: [0x06]\n    domains: [0x03]\n  g2:\n    adapters: [0x05]\n    domains: [0x03]\n' > /etc/apmatrix.yaml
echo "devices/vfio_ap/matrix/mdev_supported_types/*/create EIO 1" > /sys/.sim/fail
clear_writes
expect_exit 1 apmatrix apply > /dev/null 2>&1
# without g1 the masks would be chosen anew (apmask 0x05 for g2): never in that round
! grep -q "apmask" /sys/.sim/writes || die "took: $(cat /sys/.sim/writes)"
for q in 05.0004 06.0004 07.0004; do [ -e /sys/bus/ap/drivers/cex4queue/$q ] || die "$q taken from the host"; done
expect_repaired matches matches
EOF
	assert_success
	in_sim "$(seed_topo 6.12)" <<'EOF'
printf 'version: 1\nguests:\n  g1:\n    adapters: [0x05]\n    domains: [0x04]\n' > /etc/apmatrix.yaml
apmatrix apply -q || die "bring-up"
g1=$(uuid_of g1)
# g1 gives 0x04 to g2 and gets 0x47: two ap_config writes for g1 (shrink, then grow); the first fails
printf 'version: 1\nguests:\n  g1:\n    adapters: [0x05]\n    domains: [0x47]\n  g2:\n    adapters: [0x05]\n    domains: [0x04]\n' > /etc/apmatrix.yaml
[ "$(apmatrix diff --json | jq '[.actions[] | select(.kind == "write ap_config" and .guest == "g1")] | length')" = 2 ] || die "plan: $(apmatrix diff)"
echo "*$g1/ap_config EIO 1" > /sys/.sim/fail
ap=$(cat /sys/bus/ap/apmask); aq=$(cat /sys/bus/ap/aqmask)
apmatrix apply --json > $T/json 2> $T/err; rc=$?
[ $rc = 1 ] || die "exit $rc"
# the plan takes apmask 0x05 and gives aqmask 0x04 back, which leaves g1's
# 05.0004 to the take alone: that give-back waits for g1's change (review
# 22 F1), so it is skipped too.  Every step that needs the take (g1's
# second write, g2's, the give-back) is then bound to be skipped, so the
# take is not tried either (4 skipped, 4 "not tried"; before, it was
# written and the round after gave it back): the masks are as before the run
jqe '[.actions[] | select(.kind == "write ap_config" and .guest == "g1") | .outcome] == ["failed", "skipped"] and .skipped == 4 and
	([.actions[] | select(.kind == "take apmask" or .kind == "release aqmask" or .kind == "release apmask") | [.kind, .outcome, .round]] ==
	 [["take apmask", "skipped", 1], ["release aqmask", "skipped", 1]])' $T/json > /dev/null || die "JSON: $(jq -c '[.skipped, [.actions[] | [.guest, .kind, .outcome, .round]]]' $T/json)"
[ "$(grep -c "not tried" $T/err)" = 4 ] || die "stderr: $(cat $T/err)"
[ "$(cat /sys/bus/ap/apmask)" = "$ap" ] && [ "$(cat /sys/bus/ap/aqmask)" = "$aq" ] || die "masks: $(cat /sys/bus/ap/apmask /sys/bus/ap/aqmask), before $ap $aq"
[ "$(ls /sys/bus/ap/drivers/vfio_ap | grep '^0' | tr '\n' ' ')" = "05.0004 06.0004 " ] || die "vfio_ap: $(ls /sys/bus/ap/drivers/vfio_ap)"
expect_repaired matches matches
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "rfc2017: a guest whose assign fails after its queue was moved to vfio: the run moves the queue back to the host driver; the next run repairs the guest" {
	in_sim "$HOSTS/rfc2017.yaml" <<'EOF'
printf 'version: 1\nguests:\n  g1:\n    adapters: [0x05]\n    domains: [0x47]\n' > /etc/apmatrix.yaml
apmatrix apply -q || die "bring-up"
sed -i 's/domains: \[0x47\]/domains: [0x47, 0xff]/' /etc/apmatrix.yaml
echo "*/assign_domain EIO 1" > /sys/.sim/fail
clear_writes
apmatrix apply > $T/out 2> $T/err; rc=$?
[ $rc = 1 ] || die "exit $rc: $(cat $T/err)"
grep -qx "~ queue 05.00ff: give back to the host driver (the change of guest 'g1' that needs it failed: the next run takes it again)" $T/out || die "stdout: $(cat $T/out)"
grep -qx "2 changes applied, 1 failed, 1 skipped" $T/out || die "summary: $(cat $T/out)"
[ -e /sys/bus/ap/drivers/cex4queue/05.00ff ] || die "05.00ff not the host's: $(ls /sys/bus/ap/drivers/*/)"
[ -e /sys/bus/ap/drivers/vfio_ap_matrix/05.0047 ] || die "g1's own queue moved"
# g1's queue it keeps is no news
! grep -q "05.0047 stays" $T/err || die "stderr: $(cat $T/err)"
expect_repaired matches
[ -e /sys/bus/ap/drivers/vfio_ap_matrix/05.00ff ] || die "not repaired"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "rfc2017: a guest whose first queue move failed: its other queue is not moved (nothing could use it); the next run repairs the guest" {
	in_sim "$HOSTS/rfc2017.yaml" <<'EOF'
printf 'version: 1\nguests:\n  g1:\n    adapters: [0x05]\n    domains: [0x47, 0xab]\n' > /etc/apmatrix.yaml
# the move of 05.0047 fails at its unbind (it stays with cex4queue)
echo "bus/ap/drivers/cex4queue/unbind EIO 1" > /sys/.sim/fail
apmatrix apply > $T/out 2> $T/err; rc=$?
[ $rc = 1 ] || die "exit $rc: $(cat $T/err)"
[ "$(bad_writes | cut -f1-3 | tr '\t' ' ')" = "bus/ap/drivers/cex4queue/unbind 05.0047 EIO" ] || die "failed writes: $(bad_writes)"
grep -qx "apmatrix: warning: queue 05.00ab: move from the host driver to vfio (g1 needs it): not tried: the steps that need it are not tried (an earlier step failed)" $T/err ||
	die "stderr: $(cat $T/err)"
! grep -q 05.00ab /sys/.sim/writes || die "05.00ab written: $(cat /sys/.sim/writes)"
[ -e /sys/bus/ap/drivers/cex4queue/05.00ab ] && [ -e /sys/bus/ap/drivers/cex4queue/05.0047 ] || die "not the host's: $(ls /sys/bus/ap/drivers/*/)"
! grep -q "^queue 05" /run/apmatrix/state || die "records: $(cat /run/apmatrix/state)"
expect_repaired matches
[ -e /sys/bus/ap/drivers/vfio_ap_matrix/05.0047 ] && [ -e /sys/bus/ap/drivers/vfio_ap_matrix/05.00ab ] || die "not repaired"
clear_writes
expect_exit 0 apmatrix apply -q
[ "$(nwrites)" = 0 ] || die "converged run wrote: $(cat /sys/.sim/writes)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "a configuration warning is said once, though apply reads the file before and under the lock (text and --json)" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
sed -i 's/adapters: \[0x05, 0x06\]/adapters: [0x05, 0x06, 0x05]/' /etc/apmatrix.yaml
w="apmatrix: /etc/apmatrix.yaml:8:28: warning: guest 'guest1': adapter 0x05 listed more than once (first at /etc/apmatrix.yaml:8:16), ignoring the repeat"
apmatrix apply > $T/out 2> $T/err || die "apply: $(cat $T/err)"
[ "$(cat $T/err)" = "$w" ] || die "stderr: $(cat $T/err)"
apmatrix --json apply > $T/out 2> $T/err || die "apply --json"
[ "$(cat $T/err)" = "$w" ] || die "--json stderr: $(cat $T/err)"
jqe '(.diagnostics | length) == 1 and .diagnostics[0].line == 8 and .diagnostics[0].column == 28' $T/out >/dev/null || die "document: $(cat $T/out)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "apply -c - reads standard input once: the guests come up, and the next run changes nothing" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
apmatrix -c - apply < "$EXAMPLES/seed-two-guests.yaml" > $T/out 2> $T/err || die "apply: $(cat $T/err)"
[ "$(tail -n 1 $T/out)" = "6 changes" ] || die "stdout: $(cat $T/out)"
[ "$(grep -c /create /sys/.sim/writes)" = 2 ] || die "creates: $(cat /sys/.sim/writes)"
g1=$(apmatrix -c - check --json < "$EXAMPLES/seed-two-guests.yaml" | jq -r '.guests[] | select(.name == "guest1") | .uuid')
[ "$(cat $(mdev_dir $g1)/matrix | wc -l)" = 4 ] || die "guest1's matrix"
clear_writes
cat "$EXAMPLES/seed-two-guests.yaml" | apmatrix -c - apply > $T/out 2>&1 || die "from a pipe: $(cat $T/out)"
[ "$(cat $T/out)" = "0 changes" ] || die "second run: $(cat $T/out)"
apmatrix --json -c - apply < "$EXAMPLES/seed-two-guests.yaml" > $T/out || die "--json"
jqe '.changed == false and .done == 0 and .failed == 0' $T/out >/dev/null || die "document: $(cat $T/out)"
[ "$(nwrites)" = 0 ] || die "wrote: $(cat /sys/.sim/writes)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "a configuration edited while apply waits for the locks is read again under them; an unchanged one is not" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
mkdir -p /etc/apmatrix.d
# waiting: apply has validated the configuration and waits for the lock
waiting() { sleep 1; kill -0 $ap 2>/dev/null || die "apply did not wait: $(cat $T/err)"; }
changed="apmatrix: the configuration changed while apply waited for the locks; reading it again"

# 1. the main file: guest2 goes away, guest1 loses domain 0xab
hold_s390_lock
apmatrix -v apply > $T/out 2> $T/err & ap=$!
waiting
sed -i 's/domains: \[0x04, 0xab\]/domains: [0x04]/; /^  guest2:/,$d' /etc/apmatrix.yaml
release_s390_lock
wait $ap || die "apply: $(cat $T/err)"
grep -qxF "$changed" $T/err || die "stderr: $(cat $T/err)"
[ "$(grep -c /create /sys/.sim/writes)" = 1 ] || die "creates: $(cat /sys/.sim/writes)"
[ "$(cat $(mdev_dir $(uuid_of guest1))/matrix)" = "$(printf '05.0004\n06.0004')" ] || die "guest1: $(cat $(mdev_dir $(uuid_of guest1))/matrix)"
[ ! -e "$(mdev_dir $(uuid_of guest2))" ] || die "guest2 created"

# 2. a new drop-in brings guest2 back
hold_s390_lock
apmatrix -v apply > $T/out 2> $T/err & ap=$!
waiting
sed -n '/^guests:/p;/^  guest2:/,$p' "$EXAMPLES/seed-two-guests.yaml" > /etc/apmatrix.d/guest2.yaml
release_s390_lock
wait $ap || die "apply 2: $(cat $T/err)"
grep -qxF "$changed" $T/err || die "stderr 2: $(cat $T/err)"
[ -e "$(mdev_dir $(uuid_of guest2))" ] || die "guest2 not created: $(cat $T/out $T/err)"

# 3. unchanged: kept as validated
hold_s390_lock
apmatrix -v apply > $T/out 2> $T/err & ap=$!
waiting
release_s390_lock
wait $ap || die "apply 3: $(cat $T/err)"
grep -qx "apmatrix: the configuration did not change while apply waited for the locks" $T/err || die "stderr 3: $(cat $T/err)"
[ "$(cat $T/out)" = "0 changes" ] || die "stdout 3: $(cat $T/out)"

# 4. made writable by others while apply waits: refused under the locks, nothing written
clear_writes
printf 'guests: {}\n' > /etc/apmatrix.d/guest2.yaml
hold_s390_lock
apmatrix apply > $T/out 2> $T/err & ap=$!
waiting
chmod o+w /etc/apmatrix.d/guest2.yaml
release_s390_lock
wait $ap; rc=$?
[ $rc = 65 ] || die "exit $rc: $(cat $T/out $T/err)"
grep -q "^apmatrix: /etc/apmatrix.d/guest2.yaml: refused: " $T/err || die "stderr 4: $(cat $T/err)"
[ "$(nwrites)" = 0 ] || die "wrote: $(cat /sys/.sim/writes)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "ownership records that cannot be read: apply says so once, naming the line, writes nothing, exits 1; moved aside, nothing is lost" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
mkdir -p /run/apmatrix && printf 'not a state file\n' > /run/apmatrix/state
apmatrix apply > $T/out 2> $T/err; rc=$?
[ $rc = 1 ] || die "exit $rc"
[ "$(cat $T/err)" = "apmatrix: cannot read the ownership records in /run/apmatrix/state: line 1 ('not a state file') is not a format this apmatrix reads (apmatrix-state 1 or apmatrix-state 2; a newer apmatrix wrote it?)" ] ||
	die "stderr: $(cat $T/err)"
[ ! -s $T/out ] || die "stdout: $(cat $T/out)"
[ "$(nwrites)" = 0 ] || die "wrote: $(cat /sys/.sim/writes)"
[ "$(cat /run/apmatrix/state)" = "not a state file" ] || die "records changed"
# the message names the line apmatrix did not understand
rm /run/apmatrix/state
apmatrix apply >/dev/null || die "bring-up"
printf 'queue 05.zz47\n' >> /run/apmatrix/state
n=$(wc -l < /run/apmatrix/state)
expect_exit 1 apmatrix diff > $T/out 2> $T/err
[ "$(cat $T/err)" = "apmatrix: cannot read the ownership records in /run/apmatrix/state: line $n ('queue 05.zz47') is not a record this apmatrix writes" ] ||
	die "bad line: $(cat $T/err)"
truncate -s -1 /run/apmatrix/state
expect_exit 1 apmatrix status > $T/out 2> $T/err
[ "$(cat $T/err)" = "apmatrix: cannot read the ownership records in /run/apmatrix/state: it is cut short (no newline at its end)" ] ||
	die "cut short: $(cat $T/err)"
# moved aside, as apmatrix(8) says: the declared guests' mdevs match, the mask
# bits apmatrix took are named as taken outside it and stay, nothing is written
mv /run/apmatrix/state /run/apmatrix/state.bad
clear_writes
[ "$(apmatrix apply 2>&1)" = "0 changes" ] || die "apply after moving aside: $(apmatrix diff 2>&1)"
[ "$(nwrites)" = 0 ] || die "wrote: $(cat /sys/.sim/writes)"
apmatrix status > $T/out 2>&1 || die "status: $(cat $T/out)"
[ "$(grep -c ' matches$' $T/out)" = 2 ] && grep -q '^mask bits taken from the host outside apmatrix' $T/out ||
	die "status: $(cat $T/out)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "ownership records that are no regular file (a FIFO, a directory): apply and status say so and exit 1 at once, changing nothing" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
mkdir -p /run/apmatrix
for kind in fifo dir; do
	rm -rf /run/apmatrix/state
	if [ $kind = fifo ]; then mkfifo /run/apmatrix/state; else mkdir /run/apmatrix/state; fi
	clear_writes
	for cmd in apply status; do
		# the timeout only ends a hang (a FIFO opened without O_NONBLOCK waits for a writer; SIGTERM is blocked)
		expect_exit 1 timeout -s KILL 20 apmatrix $cmd > $T/out 2> $T/err
		why="it is not a regular file"; [ $kind = dir ] && why="Is a directory"
		[ "$(cat $T/err)" = "apmatrix: cannot read the ownership records in /run/apmatrix/state: $why" ] ||
			die "$kind, $cmd: $(cat $T/err)"
	done
	[ "$(nwrites)" = 0 ] || die "$kind: wrote: $(cat /sys/.sim/writes)"
	[ $kind = fifo ] && { [ -p /run/apmatrix/state ] || die "fifo replaced"; }
	[ $kind = dir ] && { [ -d /run/apmatrix/state ] || die "dir replaced"; }
done
# the lock is free again: moved aside, apply runs
rm -rf /run/apmatrix/state
apmatrix apply -q || die "apply after removing it"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "ownership records of another boot (a run directory that outlived a reboot) are not trusted: a warning, nothing removed or given back, and apply replaces them" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
printf 'version: 1\nguests:\n  guest1: {adapters: [5], domains: [4]}\n' > /etc/apmatrix.yaml
u=$(uuid_of guest1)
apmatrix apply -q || die "bring-up"
boot=$(cat /proc/sys/kernel/random/boot_id)
[ "$(cat /run/apmatrix/boot)" = "$boot" ] || die "boot: $(cat /run/apmatrix/boot 2>&1)"
grep -q "^mdev $u guest1$" /run/apmatrix/state && grep -q '^aqmask-taken ' /run/apmatrix/state || die "state: $(cat /run/apmatrix/state)"
# as after a reboot: the records name another boot; the guest is dropped from the configuration
other=00000000-0000-4000-8000-000000000000
echo $other > /run/apmatrix/boot
cp /run/apmatrix/state $T/old
printf 'version: 1\n' > /etc/apmatrix.yaml
warn="apmatrix: warning: the ownership records in /run/apmatrix/state are of another boot ($other, this is $boot): not trusting them, as if moved aside; apply replaces them"
expect_exit 0 apmatrix status > $T/out 2> $T/err
grep -qxF "$warn" $T/err || die "status: $(cat $T/err)"
cmp -s $T/old /run/apmatrix/state || die "status wrote the records"
clear_writes
expect_exit 0 apmatrix apply > $T/out 2> $T/err
grep -qxF "$warn" $T/err || die "apply: $(cat $T/err)"
[ "$(nwrites)" = 0 ] || die "apply wrote: $(cat /sys/.sim/writes)"
[ -d "$(mdev_dir $u)" ] || die "mdev removed"
[ "$(cat /run/apmatrix/state)" = "apmatrix-state 1" ] && [ "$(cat /run/apmatrix/boot)" = "$boot" ] ||
	die "records not replaced: $(cat /run/apmatrix/state /run/apmatrix/boot)"
expect_exit 0 apmatrix apply > $T/out 2> $T/err
[ ! -s $T/err ] || die "second apply: $(cat $T/err)"
# a state without the boot file (as versions before it wrote it) is trusted as before
echo 1 > $(mdev_dir $u)/remove
printf 'version: 1\nguests:\n  guest1: {adapters: [5], domains: [4]}\n' > /etc/apmatrix.yaml
apmatrix apply -q || die "bring-up 2"
rm /run/apmatrix/boot
printf 'version: 1\n' > /etc/apmatrix.yaml
expect_exit 0 apmatrix apply > $T/out 2> $T/err
[ ! -s $T/err ] || die "apply without a boot file: $(cat $T/err)"
[ ! -e "$(mdev_dir $u)" ] || die "recorded mdev not removed"
[ "$(cat /run/apmatrix/boot)" = "$boot" ] || die "boot not written"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "ownership records of another boot that cannot be replaced are not trusted by the next run either: the boot file is not updated over them" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
printf 'version: 1\nguests:\n  guest1: {adapters: [5], domains: [4]}\n' > /etc/apmatrix.yaml
u=$(uuid_of guest1)
apmatrix apply -q || die "bring-up"
boot=$(cat /proc/sys/kernel/random/boot_id)
other=00000000-0000-4000-8000-000000000000
echo $other > /run/apmatrix/boot
printf 'version: 1\n' > /etc/apmatrix.yaml
# the old state cannot be replaced: a mount point refuses rename and unlink (EBUSY)
mount --bind /run/apmatrix/state /run/apmatrix/state || die "bind mount"
expect_exit 0 apmatrix apply > $T/out 2> $T/err
grep -q 'cannot update the ownership records in /run/apmatrix' $T/err || die "no warning: $(cat $T/err)"
[ -d "$(mdev_dir $u)" ] || die "mdev removed"
[ "$(cat /run/apmatrix/boot)" = "$other" ] || die "boot file updated over the old state: $(cat /run/apmatrix/boot)"
umount /run/apmatrix/state || die "umount"
# the next run still does not trust them: the mdev it cannot tell it made stays
clear_writes
expect_exit 0 apmatrix apply > $T/out 2> $T/err
grep -q 'are of another boot' $T/err || die "trusted: $(cat $T/err)"
[ "$(nwrites)" = 0 ] || die "apply wrote: $(cat /sys/.sim/writes)"
[ -d "$(mdev_dir $u)" ] || die "mdev removed"
[ "$(cat /run/apmatrix/state)" = "apmatrix-state 1" ] && [ "$(cat /run/apmatrix/boot)" = "$boot" ] ||
	die "records not replaced: $(cat /run/apmatrix/state /run/apmatrix/boot)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "ownership records that root does not own or others may write are refused as root: apply exits 1, removing nothing; saved records are root's, mode 0644" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
# a run directory a local user made, with records naming someone else's mdev
export APMATRIX_RUNDIR=$T/userrun
mkdir -m 0777 $APMATRIX_RUNDIR && chown nobody $APMATRIX_RUNDIR
f=11111111-2222-3333-4444-555555555555
echo $f > /sys/devices/vfio_ap/matrix/mdev_supported_types/vfio_ap-passthrough/create || die "foreign mdev"
printf 'apmatrix-state 1\nmdev %s victim\n' $f > $APMATRIX_RUNDIR/state
chown nobody $APMATRIX_RUNDIR/state && chmod 0666 $APMATRIX_RUNDIR/state
refused() {
	clear_writes
	expect_exit 1 apmatrix apply > $T/out 2> $T/err
	[ "$(cat $T/err)" = "apmatrix: $1" ] || die "stderr: $(cat $T/err)"
	[ "$(nwrites)" = 0 ] || die "wrote: $(cat /sys/.sim/writes)"
	[ -d "$(mdev_dir $f)" ] || die "foreign mdev removed"
}
# the directory is checked before the lock is made in it, the state under the lock
refused "cannot take the lock $APMATRIX_RUNDIR/lock: directory $APMATRIX_RUNDIR is owned by user 'nobody' (uid $(id -u nobody)), not by root, so that user could change what apmatrix does as root; fix: chown root $APMATRIX_RUNDIR"
chown root $APMATRIX_RUNDIR
refused "cannot take the lock $APMATRIX_RUNDIR/lock: directory $APMATRIX_RUNDIR is writable by everyone (mode 0777); fix: chmod go-w $APMATRIX_RUNDIR"
[ ! -e $APMATRIX_RUNDIR/lock ] || die "lock made in an untrusted directory"
chmod 0755 $APMATRIX_RUNDIR
refused "cannot read the ownership records in $APMATRIX_RUNDIR/state: $APMATRIX_RUNDIR/state is owned by user 'nobody' (uid $(id -u nobody)), not by root, so that user could change what apmatrix does as root; fix: chown root $APMATRIX_RUNDIR/state"
chown root $APMATRIX_RUNDIR/state && chmod 0664 $APMATRIX_RUNDIR/state
refused "cannot read the ownership records in $APMATRIX_RUNDIR/state: $APMATRIX_RUNDIR/state is writable by group 'root' (mode 0664); fix: chmod go-w $APMATRIX_RUNDIR/state"
# root's records are trusted; what apply writes is root's and 0644, whatever it replaces
chown root:nogroup $APMATRIX_RUNDIR/state && chmod 0640 $APMATRIX_RUNDIR/state
expect_exit 0 apmatrix apply -q
[ ! -e "$(mdev_dir $f)" ] || die "recorded mdev not removed"
[ "$(stat -c '%u:%g %a' $APMATRIX_RUNDIR/state)" = "0:0 644" ] || die "state: $(stat -c '%u:%g %a' $APMATRIX_RUNDIR/state)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "as root, a run directory under one that another user may write is refused before anything is made in it; a sticky directory on the way, or a tmpfs without mode= as the run directory, is fine" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
nb=$(id -u nobody)
# a directory that nobody may write, not sticky: nobody could swap the run directory in it
mkdir -m 0777 $T/x && chown nobody $T/x
export APMATRIX_RUNDIR=$T/x/run
refused() { # WHY: apply, diff and status refuse, apply makes and writes nothing
	clear_writes
	expect_exit 1 apmatrix apply > $T/out 2> $T/err
	[ "$(cat $T/err)" = "apmatrix: cannot take the lock $APMATRIX_RUNDIR/lock: $1" ] || die "apply: $(cat $T/err)"
	[ "$(nwrites)" = 0 ] || die "wrote: $(cat /sys/.sim/writes)"
	[ ! -e $APMATRIX_RUNDIR/lock ] || die "lock made"
	for c in diff status; do
		expect_exit 1 apmatrix $c > $T/out 2> $T/err
		[ "$(cat $T/err)" = "apmatrix: cannot read the ownership records in $APMATRIX_RUNDIR/state: $1" ] || die "$c: $(cat $T/err)"
	done
}
refused "directory $T/x is owned by user 'nobody' (uid $nb), not by root, so that user could change what apmatrix does as root; fix: chown root $T/x"
[ ! -e $T/x/run ] || die "run directory made"
mkdir $T/x/run # as if made before
chown root $T/x
refused "directory $T/x is writable by everyone (mode 0777); fix: chmod go-w $T/x"
# through a symbolic link: the directories it leads to count
ln -s $T/x/run $T/link
APMATRIX_RUNDIR=$T/link expect_exit 1 apmatrix diff > $T/out 2> $T/err
grep -qxF "apmatrix: cannot read the ownership records in $T/link/state: directory $T/x is writable by everyone (mode 0777); fix: chmod go-w $T/x" $T/err ||
	die "through a link: $(cat $T/err)"
# a sticky directory on the way is fine, but not a run directory someone else made in it first
chmod 1777 $T/x && rmdir $T/x/run
mkdir -m 0755 $T/x/run && chown nobody $T/x/run # as nobody would make it
refused "directory $T/x/run is owned by user 'nobody' (uid $nb), not by root, so that user could change what apmatrix does as root; fix: chown root $T/x/run"
rmdir $T/x/run
expect_exit 0 apmatrix apply -q
[ "$(stat -c '%u %a' $T/x/run)" = "0 755" ] || die "run directory: $(stat -c '%u %a' $T/x/run)"
expect_exit 0 apmatrix status > /dev/null
# a tmpfs mounted without mode= (root's, 1777) as the run directory, and one made in it
mkdir $T/tm && mount -t tmpfs tmpfs $T/tm
for d in $T/tm $T/tm/a/b; do
	[ "$(APMATRIX_RUNDIR=$d apmatrix diff 2>&1)" = "0 changes" ] || die "diff in $d: $(APMATRIX_RUNDIR=$d apmatrix diff 2>&1)"
	APMATRIX_RUNDIR=$d expect_exit 0 apmatrix apply -q
	[ -f $d/lock ] || die "no lock in $d"
done
umount $T/tm
# a symbolic link on the way that another user owns, or in a directory others may write, could be pointed elsewhere
mkdir -m 1777 /run/stk && mkdir -m 0777 /run/ww && mkdir -m 0755 /run/target
setpriv --reuid=nobody --regid=nogroup --clear-groups ln -s /run/target /run/stk/apm || die "nobody's link"
ln -s /run/target /run/ww/link && ln -s /run/target /run/rootlink
APMATRIX_RUNDIR=/run/stk/apm expect_exit 1 apmatrix apply > $T/out 2> $T/err
[ "$(cat $T/err)" = "apmatrix: cannot take the lock /run/stk/apm/lock: symbolic link /run/stk/apm is owned by user 'nobody' (uid $nb), not by root, so that user could point it elsewhere; fix: use the path it leads to" ] ||
	die "nobody's link: $(cat $T/err)"
APMATRIX_RUNDIR=/run/ww/link expect_exit 1 apmatrix diff > $T/out 2> $T/err
[ "$(cat $T/err)" = "apmatrix: cannot read the ownership records in /run/ww/link/state: directory /run/ww is writable by everyone (mode 0777); fix: chmod go-w /run/ww" ] ||
	die "link in a 0777 directory: $(cat $T/err)"
[ -z "$(ls /run/target)" ] || die "made in the link's target: $(ls /run/target)"
APMATRIX_RUNDIR=/run/rootlink expect_exit 0 apmatrix apply -q
[ -f /run/target/lock ] || die "root's link in a root directory refused"
# ".." after a directory that does not exist would make one never used
APMATRIX_RUNDIR=/run/zz/../yy expect_exit 1 apmatrix apply > $T/out 2> $T/err
grep -qF "has '..' after /run/zz, which does not exist" $T/err || die "..: $(cat $T/err)"
[ ! -e /run/zz ] && [ ! -e /run/yy ] || die "made: $(ls /run)"
# a lock file another user made first in a sticky run directory: refused, not taken (that user could hold it)
mkdir -m 1777 /run/stl
setpriv --reuid=nobody --regid=nogroup --clear-groups touch /run/stl/lock || die "nobody's lock"
APMATRIX_RUNDIR=/run/stl expect_exit 1 apmatrix apply > $T/out 2> $T/err
[ "$(cat $T/err)" = "apmatrix: cannot take the lock /run/stl/lock: /run/stl/lock is owned by user 'nobody' (uid $nb), who could hold it and keep apply from running; fix: rm /run/stl/lock, and let no one but root write /run/stl" ] ||
	die "nobody's lock: $(cat $T/err)"
# root's lock that others may open (as flock(1) makes it), who could hold it too: made root's alone
chown root /run/stl/lock && chmod 0644 /run/stl/lock
APMATRIX_RUNDIR=/run/stl expect_exit 0 apmatrix apply -q
[ "$(stat -c %a /run/stl/lock)" = 600 ] || die "lock mode: $(stat -c %a /run/stl/lock)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "APMATRIX_RUNDIR=/ is refused with a message that names the variable, nothing made or written; trailing slashes are the same directory; a newline in its name is \\x0a in the message (one message, one line)" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
why="the run directory is / itself; give APMATRIX_RUNDIR a directory of its own"
for d in / ///; do
	clear_writes
	APMATRIX_RUNDIR=$d expect_exit 1 apmatrix apply > $T/out 2> $T/err
	[ "$(cat $T/err)" = "apmatrix: cannot take the lock //lock: $why" ] || die "apply in $d: $(cat $T/err)"
	APMATRIX_RUNDIR=$d expect_exit 1 apmatrix status > $T/out 2> $T/err
	[ "$(cat $T/err)" = "apmatrix: cannot read the ownership records in //state: $why" ] || die "status in $d: $(cat $T/err)"
	[ "$(nwrites)" = 0 ] || die "wrote: $(cat /sys/.sim/writes)"
	[ ! -e /lock ] && [ ! -e /state ] || die "made in /"
done
APMATRIX_RUNDIR=/run/x/ expect_exit 0 apmatrix apply -q
APMATRIX_RUNDIR=/run/x// expect_exit 0 apmatrix --wait 0 apply > $T/out 2> $T/err
[ "$(cat $T/out)" = "0 changes" ] || die "second apply: $(cat $T/out) $(cat $T/err)"
# the lock named as apply takes it, without a doubled slash
exec 9> /run/x/lock && flock 9
APMATRIX_RUNDIR=/run/x/ expect_exit 75 apmatrix --wait 0 apply > $T/out 2> $T/err
grep -qF "cannot take the lock /run/x/lock: process " $T/err || die "held lock: $(cat $T/err)"
exec 9>&-
# a message that names a path in its text, not as its FILE:LINE:COL prefix
mkdir -m 0777 /run/ww
APMATRIX_RUNDIR=$'/run/ww/a\nb' expect_exit 1 apmatrix apply > $T/out 2> $T/err
[ "$(cat $T/err)" = 'apmatrix: cannot take the lock /run/ww/a\x0ab/lock: directory /run/ww is writable by everyone (mode 0777); fix: chmod go-w /run/ww' ] ||
	die "newline: $(cat $T/err)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "as root, in a sticky run directory, a boot file or card records another user made are not read: they cannot make root's records be taken for another boot's" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
printf 'version: 1\nguests:\n  guest1: {adapters: [5], domains: [4]}\n' > /etc/apmatrix.yaml
u=$(uuid_of guest1)
mkdir /run/tm && mount -t tmpfs tmpfs /run/tm # root's, mode 1777
export APMATRIX_RUNDIR=/run/tm
apmatrix apply -q || die "bring-up"
# as with a state an older apmatrix wrote: no boot file; another user makes one naming another boot
# card records another user made: not read, so no card is said to have been swapped
rm /run/tm/cards
setpriv --reuid=nobody --regid=nogroup --clear-groups sh -c "printf 'apmatrix-cards 1\ncard 05 CEX8A accel\n' > /run/tm/cards" ||
	die "nobody's cards"
expect_exit 0 apmatrix diff > $T/out 2> $T/err
! grep -q 'when apmatrix last saw it' $T/err || die "nobody's card records read: $(cat $T/err)"
rm /run/tm/boot /run/tm/cards
setpriv --reuid=nobody --regid=nogroup --clear-groups sh -c "echo 00000000-0000-4000-8000-000000000000 > /run/tm/boot" ||
	die "nobody's boot file"
printf 'version: 1\n' > /etc/apmatrix.yaml
expect_exit 2 apmatrix diff > $T/out 2> $T/err
! grep -q 'another boot' $T/err || die "nobody's boot file read: $(cat $T/err)"
grep -q "^- guest1 $u: remove mdev" $T/out || die "diff: $(cat $T/out)"
umount /run/tm
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "as root, in a sticky run directory, a lock or a record that is a hard link to a file elsewhere: the lock is refused, and neither file's mode is changed" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
printf 'version: 1\nguests:\n  guest1: {adapters: [5], domains: [4]}\n' > /etc/apmatrix.yaml
mkdir /run/tm && mount -t tmpfs tmpfs /run/tm # root's, mode 1777
export APMATRIX_RUNDIR=/run/tm
# root's files elsewhere on that file system (hard links do not cross it),
# linked into the run directory as another user could where hard links are
# not protected (fs.protected_hardlinks=0)
mkdir -m 0755 /run/tm/keep
echo shared > /run/tm/keep/open && chmod 0644 /run/tm/keep/open
echo secret > /run/tm/keep/key && chmod 0600 /run/tm/keep/key
ln /run/tm/keep/open /run/tm/lock
expect_exit 1 apmatrix apply > $T/out 2> $T/err
[ "$(cat $T/err)" = "apmatrix: cannot take the lock /run/tm/lock: /run/tm/lock has 2 names (a hard link), so it is a file elsewhere too, whose mode apply would change; fix: rm /run/tm/lock, and let no one but root write /run/tm" ] ||
	die "linked lock: $(cat $T/err)"
[ "$(stat -c %a /run/tm/keep/open)" = 644 ] || die "the lock's other name was made $(stat -c %a /run/tm/keep/open)"
[ "$(nwrites)" = 0 ] || die "wrote: $(cat /sys/.sim/writes)"
rm /run/tm/lock
# a record made 0600 by an older version is opened up to 0644, but not one with two names
ln /run/tm/keep/key /run/tm/cards
expect_exit 0 apmatrix apply -q
[ "$(stat -c %a /run/tm/keep/key)" = 600 ] || die "the record's other name was made $(stat -c %a /run/tm/keep/key)"
[ "$(cat /run/tm/keep/key)" = secret ] || die "the record's other name was written"
grep -q '^apmatrix-cards' /run/tm/cards || die "no card records: $(cat /run/tm/cards)"
[ "$(stat -c %h /run/tm/cards)" = 1 ] || die "cards still linked"
umount /run/tm
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "ownership records that cannot be written: apply takes and creates nothing, says why, exits 1; the next run repairs" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
# room for the lock file and nothing more: every save of the records fails
mkdir -p /run/apmatrix && mount -t tmpfs -o nr_inodes=2 tmpfs /run/apmatrix
apmatrix apply > $T/out 2> $T/err; rc=$?
[ $rc = 1 ] || die "exit $rc: $(cat $T/err)"
# a take or a create is recorded before it is made: none was made
[ "$(nwrites)" = 0 ] || die "wrote: $(cat /sys/.sim/writes)"
[ "$(grep -c ': cannot record ownership under /run/apmatrix: No space left on device (ENOSPC)$' $T/err)" = 4 ] || die "stderr: $(cat $T/err)"
grep -q "^apmatrix: guest1 [0-9a-f-]*: create mdev: cannot record" $T/err || die "guest not named: $(cat $T/err)"
grep -qx "0 changes applied, 4 failed, 2 skipped" $T/out || die "stdout: $(cat $T/out)"
[ ! -e /run/apmatrix/state ] || die "records written: $(cat /run/apmatrix/state)"
umount /run/apmatrix
expect_repaired matches matches
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "ownership records that cannot be saved after a removal and a give-back: apply says so, stops, exits 1; once there is room the next run converges" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
cat > /etc/apmatrix.yaml <<'Y'
version: 1
guests:
  guest1: {adapters: [0x05], domains: [0x04]}
Y
export APMATRIX_RUNDIR=/run/small
mkdir -p /run/small && mount -t tmpfs -o size=16k tmpfs /run/small
expect_exit 0 apmatrix apply -q
grep -q '^mdev ' /run/small/state || die "no mdev record: $(cat /run/small/state)"
cp /run/small/state $T/state.before
# the run directory fills up: the records of what apply undoes cannot be saved
dd if=/dev/zero of=/run/small/fill bs=1k count=100 2>/dev/null
printf 'version: 1\n' > /etc/apmatrix.yaml
clear_writes
apmatrix apply > $T/out 2> $T/err; rc=$?
[ $rc = 1 ] || die "exit $rc, expected 1: $(cat $T/err)"
grep -qxF "apmatrix: cannot save the ownership records in /run/small: No space left on device: they may still claim what this run gave back, removed or failed to create; apply stopped; make room there and run apmatrix apply again" $T/err ||
	die "stderr: $(cat $T/err)"
# the writes were made: the mdev is gone, the bits are back with the host
grep -q '/remove	1	0$' /sys/.sim/writes && grep -q '^bus/ap/aqmask	+0x04	0$' /sys/.sim/writes ||
	die "writes: $(cat /sys/.sim/writes)"
cmp -s /run/small/state $T/state.before || die "records changed: $(cat /run/small/state)"
rm /run/small/fill
clear_writes
[ "$(apmatrix apply 2>&1)" = "0 changes" ] || die "apply with room: $(apmatrix diff 2>&1)"
[ "$(nwrites)" = 0 ] || die "wrote: $(cat /sys/.sim/writes)"
! grep -q '^mdev \|^aqmask' /run/small/state || die "stale records kept: $(cat /run/small/state)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "status names absent, matching, differing and running guests" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
apmatrix status --json | jqe '[.guests[].state] == ["absent","absent"]' >/dev/null || die "absent"
apmatrix apply >/dev/null
g1=$(uuid_of guest1)
echo 0x07 > $(mdev_dir $g1)/assign_control_domain
echo "attach $(uuid_of guest2)" > /sys/.sim/guest
apmatrix status > $T/st || die "status failed"
grep -q "guest1 .*differs: extra control domains 0x07" $T/st || die "$(cat $T/st)"
grep -q "guest2 .*matches, running" $T/st || die "$(cat $T/st)"
apmatrix status --json | jqe '.guests[1].running == true and .taken.apmask == [5]' >/dev/null || die json
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "an option of another command is refused (64, nothing written): apply --shell does not apply" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
clear_writes
refused() { # refused MESSAGE ARGS...: exit 64, MESSAGE on stderr, nothing on stdout
	local msg=$1; shift
	apmatrix "$@" > $T/out 2> $T/err; rc=$?
	[ $rc = 64 ] || die "$*: exit $rc, $(cat $T/out $T/err)"
	grep -qxF "apmatrix: $msg" $T/err || die "$*: stderr $(cat $T/err)"
	[ ! -s $T/out ] || die "$*: stdout $(cat $T/out)"
}
refused "--shell is not an option of apply without -n (it is one of diff and apply -n)" apply --shell
refused "--wait is not an option of diff (it is one of apply)" diff --wait 5
refused "--no-live is not an option of apply (it is one of check, show and guest)" --no-live apply
refused "--force is not an option of status (it is one of apply, diff and import)" status -f
refused "--output is not an option of check (it is one of import)" check -o /tmp/x
refused "--from is not an option of apply (it is one of import)" apply --from mdevctl
refused "--qemu is not an option of show (it is one of guest)" show --qemu
refused "--dry-run is not an option of import (it is one of apply and diff)" import -n
[ "$(nwrites)" = 0 ] || die "wrote: $(cat /sys/.sim/writes)"
# where they belong they work: apply -n --shell prints the plan as commands
expect_exit 2 apmatrix apply -n --shell > $T/sh
grep -q "^echo .*> /sys/devices/vfio_ap/matrix/mdev_supported_types/vfio_ap-passthrough/create$" $T/sh || die "shell: $(cat $T/sh)"
expect_exit 2 apmatrix diff --force > /dev/null
expect_exit 0 apmatrix check --no-live > /dev/null
[ "$(nwrites)" = 0 ] || die "wrote: $(cat /sys/.sim/writes)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "a 6.0 host without mdevs (every boot) gives over-provisioned guests their absent queues; a 5.15 one refuses them" {
	for k in 6.0 5.15; do
		printf 'kernel: %s\nvfio_ap: loaded\nmax_adapter: 0x3f\nmax_domain: 0x54\ncards:\n  - {id: 0x05, type: CEX5C, mode: cca, domains: [0x04, 0x47]}\n  - {id: 0x06, type: CEX5A, mode: accel, domains: [0x04, 0x47]}\n' \
			$k > "$BATS_TEST_TMPDIR/h$k.yaml"
	done
	in_sim "$BATS_TEST_TMPDIR/h6.0.yaml" <<'EOF'
two='version: 1
guests:
  guest1: {adapters: [0x05], domains: [0x47, 0x48]}
  guest2: {adapters: [0x06], domains: [0x04]}'
printf '%s\n' "$two" > /etc/apmatrix.yaml
# diff cannot know yet: it plans both guests in full, and says why 05.0048 may fail
expect_exit 2 apmatrix diff > $T/out 2> $T/err
grep -qx "apmatrix: /etc/apmatrix.yaml:3:46: note: guest 'guest1': APQN 05.0048 does not exist on this host; it can be assigned only if the kernel is 6.0 or later, which the first mdev tells" $T/err || die "diff: $(cat $T/err)"
grep -qx "+ guest1: assign domain 0x48" $T/out || die "diff: $(cat $T/out)"
expect_exit 0 apmatrix check > /dev/null 2>&1
# apply: guest2's create tells it is 6.0; guest1 follows in the same run, saying only (once, as check) what the LPAR lacks
expect_exit 0 apmatrix apply > $T/out 2> $T/err
[ "$(cat $T/err)" = "apmatrix: /etc/apmatrix.yaml:3:46: warning: guest 'guest1': usage domain 0x48 is not configured in this LPAR now (assigned all the same: the guest gets it as soon as the LPAR has it)" ] || die "apply said: $(cat $T/err)"
[ "$(cat $(mdev_dir $(uuid_of guest1))/matrix)" = "$(printf '05.0047\n05.0048')" ] || die "guest1: $(cat $(mdev_dir $(uuid_of guest1))/matrix)"
[ "$(cat $(mdev_dir $(uuid_of guest2))/matrix)" = "06.0004" ] || die "guest2"
clear_writes
[ "$(apmatrix apply)" = "0 changes" ] && [ "$(nwrites)" = 0 ] || die "not converged"
# guest1 alone (after a reboot: no mdev): it is created to learn the interface
for u in $(uuid_of guest1) $(uuid_of guest2); do echo 1 > $(mdev_dir $u)/remove; done
rm -f /run/apmatrix/state
sed -i '/guest2/d' /etc/apmatrix.yaml
expect_exit 0 apmatrix apply > $T/out 2> $T/err
[ "$(cat $(mdev_dir $(uuid_of guest1))/matrix)" = "$(printf '05.0047\n05.0048')" ] || die "guest1 alone: $(cat $T/out $T/err)"
echo OK
EOF
	assert_success
	assert_output --partial OK
	in_sim "$BATS_TEST_TMPDIR/h5.15.yaml" <<'EOF'
printf 'version: 1\nguests:\n  guest1: {adapters: [0x05], domains: [0x47, 0x48]}\n  guest2: {adapters: [0x06], domains: [0x04]}\n' > /etc/apmatrix.yaml
# a real static kernel: guest2's create tells it; guest1 is refused, and gets no mdev
expect_exit 1 apmatrix apply > $T/out 2> $T/err
grep -qx "apmatrix: /etc/apmatrix.yaml:3:46: guest 'guest1': APQN 05.0048 does not exist on this host; kernels before 6.0 cannot assign absent queues" $T/err || die "5.15: $(cat $T/err)"
[ ! -e "$(mdev_dir $(uuid_of guest1))" ] || die "guest1 created"
[ "$(cat $(mdev_dir $(uuid_of guest2))/matrix)" = "06.0004" ] || die "guest2: $(cat $T/out $T/err)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "status: the GUEST column fits the longest name; taken mask bits as ranges" {
	in_sim "$HOSTS/large-64x85.yaml" <<'EOF'
printf 'version: 1\nguests:\n  a-guest-with-a-long-name-01:\n    adapters: [0x00]\n    domains: ["0x00-0x54"]\n  g2:\n    adapters: [0x01, 0x02]\n    domains: ["0x00-0x54"]\n' > /etc/apmatrix.yaml
apmatrix apply > /dev/null || die "apply"
apmatrix status > $T/st || die "status"
# the UUID column starts at the same place in the header and in every row
h=$(grep -b -o "UUID" <(grep "^GUEST" $T/st) | cut -d: -f1)
r1=$(grep "^a-guest-with-a-long-name-01 " $T/st | awk '{ print index($0, $2) - 1 }')
r2=$(grep "^g2 " $T/st | awk '{ print index($0, $2) - 1 }')
[ -n "$h" ] && [ "$h" = "$r1" ] && [ "$h" = "$r2" ] || die "columns $h $r1 $r2: $(cat $T/st)"
grep -qx "  apmask 0x00-0x02" $T/st || die "ranges: $(cat $T/st)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "mask bits taken outside apmatrix: status and status --json name them and the queues only they bind to vfio_ap; diff, check and apply say once that the plan keeps them; a converged run says nothing" {
	printf "V='%s'\nS='%s'\n" "$TOP/tests/lib/schema-validate" "$TOP/schema" > "$BATS_TEST_TMPDIR/env"
	in_sim "$HOSTS/seed.yaml" <<'EOF'
. $T/env
cat > /etc/apmatrix.yaml <<'Y'
version: 1
guests:
  guest1:
    adapters: [0x05, 0x06]
    domains: [0x04, 0xab]
  guest2:
    adapters: [0x05]
    domains: [0x47]
Y
expect_exit 0 apmatrix apply >/dev/null
apmatrix diff > $T/out 2> $T/err || die "diff after apply: $(cat $T/out $T/err)"
# by hand, outside apmatrix: adapter 0x06 and domain 0xff leave the host drivers
echo -0x06 > /sys/bus/ap/apmask || die "apmask write"
echo -0xff > /sys/bus/ap/aqmask || die "aqmask write"
H="mask bits taken from the host outside apmatrix (boot setting, chzdev or by hand; apmatrix leaves them as they are):"
apmatrix status > $T/st || die "status: $(cat $T/st)"
grep -A2 -xF "$H" $T/st > $T/sec || die "no outside section: $(cat $T/st)"
[ "$(sed -n 2,3p $T/sec)" = "$(printf '  apmask 0x06\n  aqmask 0xff')" ] || die "outside bits: $(cat $T/st)"
grep -A1 -xF "mask bits taken from the host by apmatrix:" $T/st | grep -qx "  apmask 0x05" || die "taken: $(cat $T/st)"
grep -A1 -xF "of these, bound to vfio_ap only because of mask bits taken outside apmatrix (2):" $T/st |
	grep -qx "  06.0047 06.00ff" || die "unused queues: $(cat $T/st)"
apmatrix status --json > $T/st.json || die "status --json"
jqe '.outside == {"apmask":[6],"aqmask":[255],"unused_vfio_queues":["06.0047","06.00ff"]} and .taken.apmask == [5] and .unused_vfio_queues == ["05.00ff","06.0047","06.00ff"]' $T/st.json >/dev/null ||
	die "status --json: $(cat $T/st.json)"
out=$("$V" "$S/status.schema.json" $T/st.json)
[ "$(sed -n 2p <<<"$out" | cut -d' ' -f1)" = valid ] || die "schema: $out"
# the plan gives back the aqmask bits apmatrix took, which adapter 0x06 now makes needless
N="apmatrix: note: apmask 0x06 and aqmask 0xff were taken from the host outside apmatrix (boot setting, chzdev or by hand): the planned mask changes leave them as they are and plan around them"
expect_exit 2 apmatrix diff > $T/out 2> $T/err
grep -qx "~ aqmask: give 0x04 0xab back to host drivers (no declared guest needs them)" $T/out || die "diff: $(cat $T/out)"
[ "$(grep -cxF "$N" $T/err)" = 1 ] && [ "$(grep -c . $T/err)" = 1 ] || die "diff note: $(cat $T/err)"
apmatrix diff --json > $T/d.json
jqe '[.diagnostics[] | select(.severity == "note" and (.message | startswith("apmask 0x06 and aqmask 0xff were taken from the host outside apmatrix")))] | length == 1' $T/d.json >/dev/null ||
	die "diff --json: $(cat $T/d.json)"
apmatrix check > /dev/null 2> $T/err || die "check: $(cat $T/err)"
[ "$(grep -cxF "$N" $T/err)" = 1 ] || die "check note: $(cat $T/err)"
clear_writes
expect_exit 0 apmatrix apply > $T/out 2> $T/err
[ "$(grep -cxF "$N" $T/err)" = 1 ] || die "apply note: $(cat $T/err)"
[ "$(cut -f1,2 /sys/.sim/writes | tr '\t' ' ')" = "bus/ap/aqmask +0x04,+0xab" ] || die "apply writes: $(cat /sys/.sim/writes)"
# converged: the bits stay as they are, and nothing is said of them
for cmd in apply diff check; do
	expect_exit 0 apmatrix $cmd > $T/out 2> $T/err
	[ ! -s $T/err ] || die "converged $cmd: $(cat $T/err)"
done
apmatrix status --json | jqe '.outside.apmask == [6] and .outside.aqmask == [255] and .taken.aqmask == []' >/dev/null ||
	die "status after apply: $(apmatrix status --json)"
echo OK
EOF
	assert_success
	assert_output --partial OK
	# no masks, so no bits taken outside apmatrix: nothing listed
	in_sim "$HOSTS/rfc2017.yaml" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
apmatrix apply > /dev/null || die apply
! apmatrix status | grep -q "outside apmatrix" || die "rfc2017 status: $(apmatrix status)"
apmatrix status --json | jqe '.outside == {"apmask":[],"aqmask":[],"unused_vfio_queues":[]}' >/dev/null ||
	die "rfc2017 status --json: $(apmatrix status --json)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "renaming a guest whose UUID is derived: diff, check and apply warn that its UUID changes, naming both UUIDs and the old name; uuid: keeps it" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
expect_exit 0 apmatrix apply >/dev/null
U1=$(uuid_of guest1)
sed -i 's/^  guest1:/  web-prod:/' /etc/apmatrix.yaml
U2=$(uuid_of web-prod)
W="apmatrix: /etc/apmatrix.yaml:7:3: warning: guest 'web-prod': looks like guest 'guest1' renamed: its UUID changes from $U1 to $U2 (derived from the name); libvirt domains that name $U1 will not find it: keep it with uuid: $U1"
for cmd in diff check "apply -n"; do
	apmatrix $cmd > $T/out 2> $T/err; rc=$?
	grep -qxF "$W" $T/err || die "$cmd (exit $rc): $(cat $T/err)"
done
apmatrix diff --json > $T/out
U=$U1 jqe '[.diagnostics[] | select(.severity == "warning" and .guest == "web-prod" and (.message | contains("keep it with uuid: " + $ENV.U)))] | length == 1' $T/out >/dev/null || die "diff --json: $(cat $T/out)"
# another matrix: not the same guest, no warning
sed -i 's/domains: \[0x04, 0xab\]/domains: [0x04]/' /etc/apmatrix.yaml
apmatrix diff > /dev/null 2> $T/err
! grep -q "renamed" $T/err || die "other matrix: $(cat $T/err)"
sed -i 's/domains: \[0x04\]$/domains: [0x04, 0xab]/' /etc/apmatrix.yaml
# the advice: uuid: keeps the mdev, nothing to change, no warning
sed -i "s/^  web-prod:/  web-prod:\n    uuid: $U1/" /etc/apmatrix.yaml
[ "$(apmatrix diff 2> $T/err)" = "0 changes" ] || die "with uuid: $(apmatrix diff 2>&1)"
[ ! -s $T/err ] || die "with uuid: $(cat $T/err)"
# apply of the rename says it too, and does it
sed -i "/uuid: $U1/d" /etc/apmatrix.yaml
expect_exit 0 apmatrix apply > $T/out 2> $T/err
grep -qxF "$W" $T/err || die "apply: $(cat $T/err)"
[ -d $(mdev_dir $U2) ] && [ ! -d $(mdev_dir $U1) ] || die "apply: $(ls /sys/devices/vfio_ap/matrix)"
apmatrix diff > /dev/null 2> $T/err
[ ! -s $T/err ] || die "after apply: $(cat $T/err)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "-c naming /etc/apmatrix.yaml itself (its path, a link, a relative path) reads the default drop-ins too: the drop-ins' guests are not removed; another file reads none" {
	in_sim "$HOSTS/seed.yaml" <<'EOF2'
printf 'version: 1\nguests:\n  guest1: {adapters: [0x05], domains: [0x04]}\n' > /etc/apmatrix.yaml
mkdir -p /etc/apmatrix.d
printf 'guests:\n  team: {adapters: [0x06], domains: [0x47]}\n' > /etc/apmatrix.d/70-team.yaml
apmatrix apply >/dev/null || die "bring-up"
ln -s /etc/apmatrix.yaml $T/link.yaml
cp /etc/apmatrix.yaml $T/copy.yaml
clear_writes
for c in /etc/apmatrix.yaml $T/link.yaml /etc/../etc/apmatrix.yaml; do
	[ "$(apmatrix -c $c diff)" = "0 changes" ] || die "-c $c: $(apmatrix -c $c diff)"
	[ "$(apmatrix -c $c apply)" = "0 changes" ] || die "-c $c apply"
	apmatrix -c $c check | grep -q '^ok: 2 guests' || die "-c $c check: $(apmatrix -c $c check)"
done
[ "$(cd /etc && apmatrix -c apmatrix.yaml diff)" = "0 changes" ] || die "-c apmatrix.yaml in /etc"
[ "$(nwrites)" = 0 ] || die "wrote: $(cat /sys/.sim/writes)"
# another file (a copy) is read alone, as documented
apmatrix -c $T/copy.yaml check | grep -q '^ok: 1 guest' || die "copy: $(apmatrix -c $T/copy.yaml check)"
apmatrix -c $T/copy.yaml diff | grep -q "^- team .*remove mdev" || die "copy diff: $(apmatrix -c $T/copy.yaml diff)"
echo OK
EOF2
	assert_success
	assert_output --partial OK
}

@test "a guest that starts while apply runs is not changed without --force: its changes, and what waits for them, are pending (exit 2)" {
	for kernel in 6.12 6.5 5.15; do
		in_sim "$(seed_topo $kernel)" <<'EOF'
seed_two_guests
# guest1 drops domain 0xab and takes 0xff from guest2
cat >/etc/apmatrix.yaml <<'Y'
version: 1
guests:
  guest1:
    adapters: [0x05, 0x06]
    domains: [0x04, 0xff]
  guest2:
    adapters: [0x05]
    domains: [0x47]
Y
# the mdev apply writes first waits in that write; the other guest, stopped
# when apply read the host, starts meanwhile
first=$(apmatrix diff --shell | grep -m1 -o 'matrix/[0-9a-f-]*/' | cut -d/ -f2)
[ "$first" = "$g1" ] && { other=$g2 name=guest2; } || { other=$g1 name=guest1; }
before=$(cat $(mdev_dir $other)/matrix)
clear_writes
echo "wdelay devices/vfio_ap/matrix/$first/* 1500" > /sys/.sim/fail
apmatrix apply --json > $T/out 2> $T/err & pid=$!
wait_fired "apply never wrote to $first"
echo "attach $other" > /sys/.sim/guest
wait $pid; rc=$?
[ $rc = 2 ] || die "exit $rc, expected 2 (pending): $(cat $T/err)"
! grep -q "matrix/$other/" /sys/.sim/writes || die "wrote to the guest that started: $(grep "matrix/$other/" /sys/.sim/writes)"
[ "$(cat $(mdev_dir $other)/matrix)" = "$before" ] || die "$name's matrix changed"
grep -q "^apmatrix: /etc/apmatrix.yaml:[0-9]*:[0-9]*: warning: $name.* pending: guest is running (.*); it started while apply ran\$" $T/err ||
	die "no pending warning for $name: $(cat $T/err)"
jqe "[.actions[] | select(.guest == \"$name\")] | length > 0 and all(.outcome == \"pending\" and .waits_for == \"$name\")" < $T/out >/dev/null ||
	die "JSON: $(cat $T/out)"
# what needs guest2's domain 0xff waits for guest2
if [ $name = guest2 ]; then
	jqe '[.actions[] | select(.guest == "guest1" and .outcome == "pending")] | length > 0 and
		all(.reason == "waits for '"'guest2'"' (running)" and .waits_for == "guest2" and .hot == null)' < $T/out >/dev/null ||
		die "guest1's take of 0xff does not wait for guest2: $(cat $T/out)"
fi
# the next run plans it pending too, and writes nothing
clear_writes
expect_exit 2 apmatrix apply > /dev/null 2>&1
[ "$(nwrites)" = 0 ] || die "second run wrote: $(cat /sys/.sim/writes)"
echo "detach $other" > /sys/.sim/guest
expect_exit 0 apmatrix apply > /dev/null
expect_exit 0 apmatrix diff > /dev/null
[ -z "$(bad_writes)" ] || die "failed writes: $(bad_writes)"
echo "OK $name"
EOF
		assert_success
		assert_output --partial OK
	done
}

@test "a guest that starts while apply --force runs: its changes go ahead on 6.0+ (hot plug), but its mdev, no longer declared, is not removed (exit 2)" {
	in_sim "$(seed_topo 6.5)" <<'EOF'
seed_two_guests
# guest2 is dropped (its mdev removed), guest1 loses domain 0xab: guest1's
# first write waits while guest2 starts, and then guest1 too
cat >/etc/apmatrix.yaml <<'Y'
version: 1
guests:
  guest1:
    adapters: [0x05, 0x06]
    domains: [0x04]
Y
clear_writes
echo "wdelay devices/vfio_ap/matrix/$g1/unassign_domain 1500" > /sys/.sim/fail
(
	wait_fired "apply never unassigned guest1's domain 0xab"
	echo "attach $g2" > /sys/.sim/guest; echo "attach $g1" > /sys/.sim/guest
) &
apply_guarded $g2 --force; rc=$?
wait
[ $rc = 2 ] || die "exit $rc, expected 2: $(cat $T/err)"
[ -d $(mdev_dir $g2) ] || die "guest2's mdev removed"
grep -q "^apmatrix: warning: guest2 $g2: remove mdev .*pending: guest is running (an mdev in use is never removed); it started while apply ran\$" $T/err ||
	die "no pending warning for guest2: $(cat $T/err)"
grep -q "$g1/unassign_control_domain" /sys/.sim/writes || die "--force did not change guest1: $(cat /sys/.sim/writes)"
echo "detach $g2" > /sys/.sim/guest
expect_exit 0 apmatrix apply > /dev/null
[ ! -e $(mdev_dir $g2) ] || die "guest2's mdev still there once it stopped"
[ -z "$(bad_writes)" ] || die "failed writes: $(bad_writes)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "a guest that starts between two writes to its own mdev is not changed by the second (the first took the queue its state was read from)" {
	# 6.0-6.9, one write per item (before 6.0 the kernel refuses the write in flight itself: EBUSY)
	in_sim "$(seed_topo 6.5)" <<'EOF'
seed_two_guests
# guest1 (05,06 x 04,ab) loses adapter 0x05, the adapter of the queue its
# state is read from (05.0004), then domain 0xab; it starts between the two
sed -i 's/adapters: \[0x05, 0x06\]/adapters: [0x06]/; s/domains: \[0x04, 0xab\]/domains: [0x04]/' /etc/apmatrix.yaml
apmatrix diff --shell | grep -q "^echo 0x05 > .*$g1/unassign_adapter" || die "plan: $(apmatrix diff)"
clear_writes
echo "wdelay devices/vfio_ap/matrix/$g1/unassign_adapter 1500" > /sys/.sim/fail
apmatrix apply --json > $T/out 2> $T/err & pid=$!
wait_fired "apply never unassigned adapter 0x05"
echo "attach $g1" > /sys/.sim/guest
wait $pid; rc=$?
[ $rc = 2 ] || die "exit $rc, expected 2 (pending): $(cat $T/err)"
grep -q "$g1/unassign_adapter" /sys/.sim/writes || die "the first write did not go through: $(cat /sys/.sim/writes)"
! grep -q "$g1/unassign_domain\|$g1/unassign_control_domain" /sys/.sim/writes ||
	die "wrote to the guest after it started: $(cat /sys/.sim/writes)"
grep -q "guest1: unassign domain 0xab.* pending: guest is running (.*); it started while apply ran\$" $T/err ||
	die "no pending warning: $(cat $T/err)"
jqe '[.actions[] | select(.guest == "guest1" and .outcome == "pending")] | length >= 2 and all(.waits_for == "guest1")' \
	< $T/out >/dev/null || die "JSON: $(cat $T/out)"
echo "detach $g1" > /sys/.sim/guest
expect_exit 0 apmatrix apply > /dev/null
expect_exit 0 apmatrix diff > /dev/null
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "a pending change's warning is at the guest's place in the configuration and names the APQNs the guest would lose or gain; --force names those it loses" {
	for k in 6.0 6.12; do
	in_sim "$(seed_topo $k)" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
apmatrix apply >/dev/null || die "bring-up"
echo "attach $(uuid_of guest1)" > /sys/.sim/guest
sed -i 's/domains: \[0x04, 0xab\]/domains: [0x04]/; s/domains: \[0x47, 0xff\]/domains: [0x47, 0xab]/' /etc/apmatrix.yaml
apmatrix apply > /dev/null 2> $T/err; [ $? = 2 ] || die "apply exit"
cat $T/err
apmatrix apply --force 2>&1 || die "apply --force"
EOF
	assert_success
	if [ $k = 6.0 ]; then
		assert_line "apmatrix: /etc/apmatrix.yaml:7:3: warning: guest1: unassign domain 0xab (it would lose APQNs 05.00ab 06.00ab) pending: guest is running (use --force)"
		assert_line "apmatrix: /etc/apmatrix.yaml:12:21: warning: guest2: assign domain 0xab (it would gain APQN 05.00ab) pending: waits for 'guest1' (running)"
		assert_line "- guest1: unassign domain 0xab (hot unplug from the running guest: it loses APQNs 05.00ab 06.00ab)"
	else
		assert_line "apmatrix: /etc/apmatrix.yaml:7:3: warning: guest1 a4d8e314...: set matrix: adapters 0x05,0x06, domains 0x04, control domains 0x04 (domains -0xab, control domains -0xab; it would lose APQNs 05.00ab 06.00ab) pending: guest is running (use --force)"
		assert_line "apmatrix: /etc/apmatrix.yaml:10:3: warning: guest2 777a2a03...: set matrix: adapters 0x05, domains 0x47,0xab, control domains 0x47,0xab (domains -0xff,+0xab, control domains -0xff,+0xab; it would gain APQN 05.00ab, lose APQN 05.00ff) pending: waits for 'guest1' (running)"
		assert_line "~ guest1 a4d8e314...: set matrix: adapters 0x05,0x06, domains 0x04, control domains 0x04 (domains -0xab, control domains -0xab; hot unplug from the running guest: it loses APQNs 05.00ab 06.00ab)"
	fi
	done
}

@test "a guest no longer declared that starts while apply runs: what waits for its mdev names that guest and the mdev, waits_for its UUID, as the plan does; the APQNs are named (6.5)" {
	in_sim "$(seed_topo 6.5)" <<'EOF2'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
apmatrix apply >/dev/null || die "bring-up"
g1=$(uuid_of guest1); g2=$(uuid_of guest2)
# guest2 is dropped (stopped when apply reads the host); guest3 wants its
# 05.0047; guest1 loses domain 0xab, the write apply makes first (guest3's
# assigns of adapter 0x05 and domain 0x47 wait for guest2's removal)
cat > /etc/apmatrix.yaml <<'Y'
version: 1
guests:
  guest1: {adapters: [0x05, 0x06], domains: [0x04]}
  guest3: {adapters: [0x05], domains: [0x47]}
Y
why="waits for guest 'guest2', no longer declared (mdev $g2, running)"
apmatrix diff --shell | grep -m1 -q "$g1/unassign_domain" || die "plan: $(apmatrix diff)"
clear_writes
echo "wdelay devices/vfio_ap/matrix/$g1/unassign_domain 1500" > /sys/.sim/fail
apmatrix apply --json > $T/out 2> $T/err & pid=$!
for ((i = 0; i < 600; i++)); do [ -z "$(cat /sys/.sim/fail)" ] && break; sleep 0.05; done
[ -z "$(cat /sys/.sim/fail)" ] || die "apply never wrote to guest1's mdev"
echo "attach $g2" > /sys/.sim/guest
wait $pid; rc=$?
[ $rc = 2 ] || die "exit $rc, expected 2 (pending): $(cat $T/err)"
[ -d $(mdev_dir $g2) ] || die "guest2's mdev removed"
! grep -q "matrix/$g2/" /sys/.sim/writes || die "wrote to guest2's mdev: $(cat /sys/.sim/writes)"
grep -qF "guest2 $g2: remove mdev (it would lose APQNs 05.0047 05.00ff) pending: guest is running (an mdev in use is never removed); it started while apply ran" $T/err ||
	die "the removal: $(cat $T/err)"
for n in "adapter 0x05" "domain 0x47"; do
	grep -qF "guest3: assign $n (it would gain APQN 05.0047) pending: $why" $T/err || die "guest3's assign $n: $(cat $T/err)"
done
grep -q "'guest2' (running)" $T/err && die "named by the old guest's name alone: $(cat $T/err)"
jqe "[.actions[] | select(.outcome == \"pending\")] | length >= 2 and all(.waits_for == \"$g2\")" < $T/out >/dev/null ||
	die "JSON waits_for: $(jq -c '[.actions[] | select(.outcome == "pending") | [.kind, .guest, .waits_for, .reason]]' < $T/out)"
jqe "[.actions[] | select(.guest == \"guest3\" and .outcome == \"pending\") | .reason] | length > 0 and all(. == \"$why\")" < $T/out >/dev/null ||
	die "JSON reason: $(jq -c '[.actions[] | select(.outcome == "pending") | [.kind, .guest, .waits_for, .reason]]' < $T/out)"
echo "detach $g2" > /sys/.sim/guest
expect_exit 0 apmatrix apply > /dev/null
expect_exit 0 apmatrix diff > /dev/null
[ -z "$(bad_writes)" ] || die "failed writes: $(bad_writes)"
echo OK
EOF2
	assert_success
	assert_output --partial OK
}

@test "a mask take that only a change of a guest that started while apply ran needs is not written: it waits with it (exit 2); once the guest stops, apply does both (6.5)" {
	# the seed's cards and three more (0x07-0x09)
	t=$(seed_topo 6.5)
	cat >>"$t" <<EOT
  - {id: 0x07, type: CEX6P, mode: ep11,  domains: [0x04, 0x47, 0xab, 0xff]}
  - {id: 0x08, type: CEX6P, mode: ep11,  domains: [0x04, 0x47, 0xab, 0xff]}
  - {id: 0x09, type: CEX6P, mode: ep11,  domains: [0x04, 0x47, 0xab, 0xff]}
EOT
	in_sim "$t" <<'EOF2'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
expect_exit 0 apmatrix apply >/dev/null
g1=$(uuid_of guest1); g2=$(uuid_of guest2)
ap=$(cat /sys/bus/ap/apmask); aq=$(cat /sys/bus/ap/aqmask)
# guest1 loses domain 0xab (written first); guest2 gains adapter 0x07, for
# which apply takes apmask 0x07 (the domains would take cards 08 and 09's)
sed -i 's/domains: \[0x04, 0xab\]/domains: [0x04]/; s/adapters: \[0x05\]/adapters: [0x05, 0x07]/' /etc/apmatrix.yaml
out=$(apmatrix diff 2>&1)
grep -qxF "~ apmask: take 0x07 from host drivers (guest2 needs them; 2 other queues leave the host too: 07.0004 07.00ab)" <<<"$out" || die "plan: $out"
clear_writes
echo "wdelay devices/vfio_ap/matrix/$g1/unassign_domain 1500" > /sys/.sim/fail
apmatrix apply --json > $T/out 2> $T/err & pid=$!
for ((i = 0; i < 600; i++)); do [ -z "$(cat /sys/.sim/fail)" ] && break; sleep 0.05; done
[ -z "$(cat /sys/.sim/fail)" ] || die "apply never unassigned guest1's domain"
echo "attach $g2" > /sys/.sim/guest
wait $pid; rc=$?
[ $rc = 2 ] || die "exit $rc, expected 2 (pending): $(cat $T/err)"
grep -q "$g1/unassign_domain" /sys/.sim/writes || die "guest1's change was not made: $(cat /sys/.sim/writes)"
! grep -q '^bus/ap/' /sys/.sim/writes || die "the exit-2 run wrote a mask: $(cat /sys/.sim/writes)"
[ "$(cat /sys/bus/ap/apmask) $(cat /sys/bus/ap/aqmask)" = "$ap $aq" ] || die "masks changed"
[ "$(basename $(readlink /sys/devices/ap/card07/07.0004/driver))" != vfio_ap ] || die "07.0004 taken from the host"
grep -qxF "apmatrix: warning: apmask: take 0x07 from host drivers pending: waits for 'guest2' (running)" $T/err ||
	die "apply said: $(cat $T/err)"
jqe '[.actions[] | select(.kind == "take apmask") | [.outcome, .waits_for, .force_helps]] == [["pending", "guest2", true]]' < $T/out >/dev/null ||
	die "JSON: $(jq -c '.actions' < $T/out)"
echo "detach $g2" > /sys/.sim/guest
clear_writes
expect_exit 0 apmatrix apply > /dev/null
[ -z "$(bad_writes)" ] || die "failed writes: $(bad_writes)"
grep -q '^bus/ap/apmask	-0x07' /sys/.sim/writes || die "no take once guest2 stopped: $(cat /sys/.sim/writes)"
grep -q 07.0047 $(mdev_dir $g2)/matrix || die "guest2 lacks 07.0047"
echo OK
EOF2
	assert_success
	assert_output --partial OK
}

@test "a mask take held back while apply runs: the JSON's queues and the reasons name what the mask writes of this run move, not what the plan counted with the held take written (6.5)" {
	# the seed's cards and three more (0x07-0x09), with domain 0x10
	t=$(seed_topo 6.5)
	cat >>"$t" <<EOT
  - {id: 0x07, type: CEX6P, mode: ep11,  domains: [0x04, 0x10, 0x47, 0xab, 0xff]}
  - {id: 0x08, type: CEX6P, mode: ep11,  domains: [0x04, 0x10, 0x47, 0xab, 0xff]}
  - {id: 0x09, type: CEX6P, mode: ep11,  domains: [0x04, 0x10, 0x47, 0xab, 0xff]}
EOT
	in_sim "$t" <<'EOF2'
seed_two_guests
# guest1 loses domain 0xab (written first); guest2 gains adapter 0x07 (apmask
# take 0x07); guest3 wants 08.0010 09.0010 (aqmask take 0x10).  The plan
# counts 07.0010, in both, for the apmask take, which comes first.
sed -i 's/domains: \[0x04, 0xab\]/domains: [0x04]/; s/adapters: \[0x05\]/adapters: [0x05, 0x07]/' /etc/apmatrix.yaml
printf '  guest3:\n    adapters: [0x08, 0x09]\n    domains: [0x10]\n' >> /etc/apmatrix.yaml
apmatrix diff --json > $T/plan.json
jqe '[.actions[] | select(.kind | startswith("take ")) | [.kind, .pending, .queues]] ==
	[["take apmask", false, ["07.0004", "07.0010", "07.0047", "07.00ab", "07.00ff"]],
	 ["take aqmask", false, ["08.0010", "09.0010"]]]' $T/plan.json >/dev/null || die "plan: $(jq -c .actions $T/plan.json)"
drivers() { for q in /sys/devices/ap/card*/??.????; do echo "${q##*/} $(basename $(readlink $q/driver))"; done; }
drivers > $T/before
clear_writes
# guest2 starts while guest1's domain is unassigned: its assign waits, and the apmask take with it
echo "wdelay devices/vfio_ap/matrix/$g1/unassign_domain 1500" > /sys/.sim/fail
apmatrix apply --json > $T/out 2> $T/err & pid=$!
wait_fired "apply never unassigned guest1's domain"
echo "attach $g2" > /sys/.sim/guest
wait $pid; rc=$?
[ $rc = 2 ] || die "exit $rc, expected 2 (pending): $(cat $T/err)"
[ -z "$(bad_writes)" ] || die "failed writes: $(bad_writes)"
[ "$(grep '^bus/ap/' /sys/.sim/writes | cut -f1,2 | tr '\t' ' ')" = "bus/ap/aqmask -0x10" ] || die "mask writes: $(cat /sys/.sim/writes)"
drivers > $T/after
# what moved: 07.0010 (adapter 0x07 is still the host's), 08.0010 and 09.0010
moved=$(diff $T/before $T/after | sed -n 's/^> \([^ ]*\) vfio_ap$/\1/p' | tr '\n' ' ')
[ "$moved" = "07.0010 08.0010 09.0010 " ] || die "moved: $moved ($(diff $T/before $T/after))"
jqe '[.actions[] | select(.kind | startswith("take ")) | [.kind, .outcome, .queues, .reason]] ==
	[["take apmask", "pending", ["07.0004", "07.0047", "07.00ab", "07.00ff"], "waits for '"'guest2'"' (running)"],
	 ["take aqmask", "done", ["07.0010", "08.0010", "09.0010"], "guest3 needs them; 1 other queue leaves the host too: 07.0010"]]' \
	$T/out >/dev/null || die "JSON: $(jq -c '[.actions[] | select(.kind | startswith("take "))]' $T/out)"
[ "$(jq -r '.actions[] | select(.outcome == "done") | .queues[]' $T/out | tr '\n' ' ')" = "$moved" ] ||
	die "the done actions' queues are not what moved: $(jq -c '[.actions[] | [.kind, .outcome, .queues]]' $T/out)"
# the text names the same
echo "detach $g2" > /sys/.sim/guest
cp /etc/apmatrix.yaml $T/want.yaml
sed -i '/guest3/,$d' /etc/apmatrix.yaml
sed -i 's/adapters: \[0x05, 0x07\]/adapters: [0x05]/; s/domains: \[0x04\]/domains: [0x04, 0xab]/' /etc/apmatrix.yaml
expect_exit 0 apmatrix apply -q
drivers > $T/reset
diff $T/before $T/reset >/dev/null || die "not back to the start: $(diff $T/before $T/reset)"
cp $T/want.yaml /etc/apmatrix.yaml
echo "wdelay devices/vfio_ap/matrix/$g1/unassign_domain 1500" > /sys/.sim/fail
apmatrix apply > $T/out 2> $T/err & pid=$!
wait_fired "apply never unassigned guest1's domain (text)"
echo "attach $g2" > /sys/.sim/guest
wait $pid; rc=$?
[ $rc = 2 ] || die "exit $rc, expected 2 (pending): $(cat $T/err)"
grep -qxF "~ aqmask: take 0x10 from host drivers (guest3 needs them; 1 other queue leaves the host too: 07.0010)" $T/out ||
	die "text: $(cat $T/out)"
echo "detach $g2" > /sys/.sim/guest
expect_exit 0 apmatrix apply > /dev/null
expect_exit 0 apmatrix diff > /dev/null
echo OK
EOF2
	assert_success
	assert_output --partial OK
}

@test "6.12: a give-back of the other mask waits with the mask take held back for guests that started while apply ran, though the guest it waited for stops before its turn: no EBUSY, exit 2; once the guests stop, apply converges" {
	t=$(seed_topo_07_0a)
	in_sim "$t" <<'EOF2'
# aqmask 0x47 0xab covers gx and gy, apmask 0x0a gz
cat > /etc/apmatrix.yaml <<'Y'
version: 1
guests:
  gx: {adapters: [0x05, 0x06, 0x08, 0x09], domains: [0x47, 0xab]}
  gy: {adapters: [0x07], domains: [0xab]}
  gz: {adapters: [0x0a], domains: [0x10]}
Y
expect_exit 0 apmatrix apply -q
gx=$(uuid_of gx); gy=$(uuid_of gy); gz=$(uuid_of gz)
# gx drops 0xab, gy takes all of card 07: the plan trades aqmask 0xab for
# apmask 0x07, which keeps gy's 07.00ab from the host.  On 6.12 gx's
# ap_config write comes after the take; the give-back depends on it only.
# gz's removal comes before the take, gw's create between it and gx's write.
cat > /etc/apmatrix.yaml <<'Y'
version: 1
guests:
  gx: {adapters: [0x05, 0x06, 0x08, 0x09], domains: [0x47]}
  gy: {adapters: [0x07], domains: [0x04, 0x47, 0xab, 0xff]}
  gw: {adapters: [0x0a], domains: [0x10]}
Y
plan=$(apmatrix diff --json 2>/dev/null | jq -c '[.actions[] | [.kind, .guest]]')
[ "$plan" = '[["remove mdev","gz"],["take apmask",null],["create mdev","gw"],["write ap_config","gw"],["write ap_config","gx"],["write ap_config","gy"],["release aqmask",null]]' ] ||
	die "plan: $plan"
apmatrix diff --json 2>/dev/null | jqe '[.actions[] | select(.kind == "release aqmask" or .guest == "gy") | .depends_on] == [[1], [4]]' >/dev/null ||
	die "dependencies: $(apmatrix diff --json 2>/dev/null | jq -c '[.actions[] | [.kind, .guest, .depends_on]]')"
clear_writes
# gx and gy start while gz's mdev is removed: the take waits for gy, its
# users (gy's change, the give-back through gx's write) would wait;
# gx stops while gw's mdev is created, before its own write
echo "wdelay devices/vfio_ap/matrix/$gz/remove 1500" > /sys/.sim/fail
apmatrix apply --json > $T/out 2> $T/err & pid=$!
wait_fired "apply never removed gz's mdev"
echo "attach $gx" > /sys/.sim/guest
echo "attach $gy" > /sys/.sim/guest
echo "wdelay devices/vfio_ap/matrix/mdev_supported_types/*/create 1500" > /sys/.sim/fail
wait_fired "apply never created gw's mdev"
echo "detach $gx" > /sys/.sim/guest
wait $pid; rc=$?
[ $rc = 2 ] || die "exit $rc, expected 2 (pending): $(cat $T/err) $(cat /sys/.sim/writes)"
[ -z "$(bad_writes)" ] || die "failed writes: $(bad_writes)"
grep -q "$gx/ap_config" /sys/.sim/writes || die "gx's change was not made: $(cat /sys/.sim/writes)"
grep -qxF "apmatrix: warning: aqmask: give 0xab back to host drivers pending: waits for 'gy' (running)" $T/err ||
	die "the give-back did not wait with the take: $(cat $T/err)"
jqe '[.actions[] | select(.kind == "release aqmask")][0] | [.outcome, .waits_for] == ["pending", "gy"]' < $T/out >/dev/null ||
	die "JSON: $(jq -c '[.actions[] | [.kind, .guest, .outcome, .waits_for]]' < $T/out)"
# the take held back names what it would move with the give-back held too:
# gy's 07.00ab stays with vfio_ap, it is not the take's
jqe '[.actions[] | select(.kind == "take apmask")][0] | [.outcome, .queues] == ["pending", ["07.0004", "07.00ff"]]' < $T/out >/dev/null ||
	die "the held take's queues: $(jq -c '[.actions[] | select(.queues != []) | [.kind, .outcome, .queues]]' < $T/out)"
# whatever was written: 0xab given back only after apmask took 0x07, gy keeps 07.00ab
if grep -q '^bus/ap/aqmask	+0xab' /sys/.sim/writes; then
	grep -n '^bus/ap/' /sys/.sim/writes | cut -f1 | tr '\n' ' ' | grep -qx '[0-9]*:bus/ap/apmask [0-9]*:bus/ap/aqmask ' ||
		die "mask writes out of order: $(cat /sys/.sim/writes)"
fi
[ "$(basename $(readlink /sys/devices/ap/card07/07.00ab/driver))" = vfio_ap ] || die "07.00ab handed to the host"
grep -qx 07.00ab $(mdev_dir $gy)/matrix || die "gy lost 07.00ab: $(cat $(mdev_dir $gy)/matrix)"
echo "detach $gy" > /sys/.sim/guest
expect_exit 0 apmatrix apply > /dev/null
expect_exit 0 apmatrix diff > /dev/null
[ -z "$(bad_writes)" ] || die "failed writes: $(bad_writes)"
[ "$(cat $(mdev_dir $gy)/matrix | tr '\n' ' ')" = "07.0004 07.0047 07.00ab 07.00ff " ] || die "gy: $(cat $(mdev_dir $gy)/matrix)"
[ "$(basename $(readlink /sys/devices/ap/card05/05.00ab/driver))" = cex4queue ] || die "05.00ab not given back"
echo OK
EOF2
	assert_success
	assert_output --partial OK
}

@test "a mask take held back while apply runs, after a take pending at plan time that comes before it in the plan: the queues they share stay the held one's, the pending one keeps the plan's list (6.5)" {
	# the seed's cards and three more (0x07-0x09), with domain 0x10
	t=$(seed_topo 6.5)
	cat >>"$t" <<EOT
  - {id: 0x07, type: CEX6P, mode: ep11,  domains: [0x04, 0x10, 0x47, 0xab, 0xff]}
  - {id: 0x08, type: CEX6P, mode: ep11,  domains: [0x04, 0x10, 0x47, 0xab, 0xff]}
  - {id: 0x09, type: CEX6P, mode: ep11,  domains: [0x04, 0x10, 0x47, 0xab, 0xff]}
EOT
	in_sim "$t" <<'EOF2'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
sed -i 's/domains: \[0x04, 0xab\]/&\n    control-domains: [0x20]/' /etc/apmatrix.yaml
printf '  guest3:\n    adapters: [0x08, 0x09]\n    domains: [0x04]\n' >> /etc/apmatrix.yaml
expect_exit 0 apmatrix apply -q
g1=$(uuid_of guest1); g2=$(uuid_of guest2); g3=$(uuid_of guest3)
# guest1 drops control domain 0x20 (written first); guest2 runs and gains
# adapter 0x07: the apmask take waits for it at plan time; guest3 trades
# domain 0x04 for 0x10: the aqmask take, written in the plan, comes after
# it and counts 07.0010, in both, as its own (the apmask take names
# 07.0004, which the aqmask give-back returns first)
echo "attach $g2" > /sys/.sim/guest
sed -i 's/adapters: \[0x05\]/adapters: [0x05, 0x07]/; $s/domains: \[0x04\]/domains: [0x10]/; /control-domains/d' /etc/apmatrix.yaml
apmatrix diff --json > $T/plan.json 2>/dev/null
jqe '[.actions[] | select(.kind | startswith("take ")) | [.kind, .pending, .queues]] ==
	[["take apmask", true, ["07.0004", "07.0047", "07.00ab", "07.00ff"]],
	 ["take aqmask", false, ["07.0010", "08.0010", "09.0010"]]]' $T/plan.json >/dev/null ||
	die "plan: $(jq -c '[.actions[] | [.kind, .guest, .pending, .queues]]' $T/plan.json)"
clear_writes
# guest3 starts while guest1's control domain is unassigned: its assign of
# 0x10 waits, and the aqmask take with it (guest3's unassign of 0x04 comes
# after its assigns, on 6.0-6.9 too)
echo "wdelay devices/vfio_ap/matrix/$g1/unassign_control_domain 1500" > /sys/.sim/fail
apmatrix apply --json > $T/out 2> $T/err & pid=$!
wait_fired "apply never unassigned guest1's control domain"
echo "attach $g3" > /sys/.sim/guest
wait $pid; rc=$?
[ $rc = 2 ] || die "exit $rc, expected 2 (pending): $(cat $T/err)"
[ -z "$(bad_writes)" ] || die "failed writes: $(bad_writes)"
! grep -q '^bus/ap/aqmask	-' /sys/.sim/writes || die "the aqmask take was written: $(cat /sys/.sim/writes)"
grep -qxF "apmatrix: warning: aqmask: take 0x10 from host drivers pending: waits for 'guest3' (running)" $T/err ||
	die "apply said: $(cat $T/err)"
jqe '[.actions[] | select(.kind | startswith("take ")) | [.kind, .outcome, .queues]] ==
	[["take apmask", "pending", ["07.0004", "07.0047", "07.00ab", "07.00ff"]],
	 ["take aqmask", "pending", ["07.0010", "08.0010", "09.0010"]]]' $T/out >/dev/null ||
	die "JSON: $(jq -c '[.actions[] | select(.queues != []) | [.kind, .outcome, .queues]]' $T/out)"
echo "detach $g2" > /sys/.sim/guest
echo "detach $g3" > /sys/.sim/guest
expect_exit 0 apmatrix apply > /dev/null
expect_exit 0 apmatrix diff > /dev/null
[ -z "$(bad_writes)" ] || die "failed writes: $(bad_writes)"
echo OK
EOF2
	assert_success
	assert_output --partial OK
}

@test "two mask takes held back while apply runs, the second after the first was reported: the queues they share are the second's, the first keeps what it was reported with (6.5)" {
	# the seed's cards and three more (0x07-0x09), with domain 0x10
	t=$(seed_topo 6.5)
	cat >>"$t" <<EOT
  - {id: 0x07, type: CEX6P, mode: ep11,  domains: [0x04, 0x10, 0x47, 0xab, 0xff]}
  - {id: 0x08, type: CEX6P, mode: ep11,  domains: [0x04, 0x10, 0x47, 0xab, 0xff]}
  - {id: 0x09, type: CEX6P, mode: ep11,  domains: [0x04, 0x10, 0x47, 0xab, 0xff]}
EOT
	in_sim "$t" <<'EOF2'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
sed -i 's/domains: \[0x04, 0xab\]/&\n    control-domains: [0x20]/' /etc/apmatrix.yaml
printf '  guest3:\n    adapters: [0x08, 0x09]\n    domains: [0x04]\n' >> /etc/apmatrix.yaml
expect_exit 0 apmatrix apply -q
g1=$(uuid_of guest1); g2=$(uuid_of guest2); g3=$(uuid_of guest3)
# guest1 drops control domain 0x20 (written first); guest2 gains adapter
# 0x07 (apmask take 0x07), guest3 domain 0x10 (aqmask take 0x10): the
# plan counts 07.0010, in both, for the apmask take, which comes first
sed -i 's/adapters: \[0x05\]/adapters: [0x05, 0x07]/; $s/domains: \[0x04\]/domains: [0x04, 0x10]/; /control-domains/d' /etc/apmatrix.yaml
apmatrix diff --json > $T/plan.json 2>/dev/null
jqe '[.actions[] | select(.kind | startswith("take ")) | [.kind, .pending, .queues]] ==
	[["take apmask", false, ["07.0010", "07.0047", "07.00ab", "07.00ff"]],
	 ["take aqmask", false, ["08.0010", "09.0010"]]]' $T/plan.json >/dev/null ||
	die "plan: $(jq -c '[.actions[] | [.kind, .guest, .pending, .queues]]' $T/plan.json)"
clear_writes
# both start while guest1's control domain is unassigned: the apmask take
# waits for guest2 (and is reported without 07.0010, which the aqmask take
# still counted as its own), then the aqmask take for guest3
echo "wdelay devices/vfio_ap/matrix/$g1/unassign_control_domain 1500" > /sys/.sim/fail
apmatrix apply --json > $T/out 2> $T/err & pid=$!
wait_fired "apply never unassigned guest1's control domain"
echo "attach $g2" > /sys/.sim/guest
echo "attach $g3" > /sys/.sim/guest
wait $pid; rc=$?
[ $rc = 2 ] || die "exit $rc, expected 2 (pending): $(cat $T/err)"
[ -z "$(bad_writes)" ] || die "failed writes: $(bad_writes)"
! grep -q '^bus/ap/' /sys/.sim/writes || die "a mask was written: $(cat /sys/.sim/writes)"
jqe '[.actions[] | select(.kind | startswith("take ")) | [.kind, .outcome, .waits_for, .queues]] ==
	[["take apmask", "pending", "guest2", ["07.0047", "07.00ab", "07.00ff"]],
	 ["take aqmask", "pending", "guest3", ["07.0010", "08.0010", "09.0010"]]]' $T/out >/dev/null ||
	die "JSON: $(jq -c '[.actions[] | select(.queues != []) | [.kind, .outcome, .queues]]' $T/out)"
echo "detach $g2" > /sys/.sim/guest
echo "detach $g3" > /sys/.sim/guest
expect_exit 0 apmatrix apply > /dev/null
expect_exit 0 apmatrix diff > /dev/null
[ -z "$(bad_writes)" ] || die "failed writes: $(bad_writes)"
echo OK
EOF2
	assert_success
	assert_output --partial OK
}

@test "a mask take that fails moves no queue: the mask actions after it name what they move without it, in the JSON's queues and the reasons (6.5)" {
	# the seed's cards and three more (0x07-0x09), with domain 0x10
	t=$(seed_topo 6.5)
	cat >>"$t" <<EOT
  - {id: 0x07, type: CEX6P, mode: ep11,  domains: [0x04, 0x10, 0x47, 0xab, 0xff]}
  - {id: 0x08, type: CEX6P, mode: ep11,  domains: [0x04, 0x10, 0x47, 0xab, 0xff]}
  - {id: 0x09, type: CEX6P, mode: ep11,  domains: [0x04, 0x10, 0x47, 0xab, 0xff]}
EOT
	in_sim "$t" <<'EOF2'
seed_two_guests
# guest2 gains adapter 0x07 (apmask take 0x07); guest3 wants 08.0010
# 09.0010 (aqmask take 0x10).  The plan counts 07.0010, in both, for the
# apmask take, which comes first.
sed -i 's/adapters: \[0x05\]/adapters: [0x05, 0x07]/' /etc/apmatrix.yaml
printf '  guest3:\n    adapters: [0x08, 0x09]\n    domains: [0x10]\n' >> /etc/apmatrix.yaml
apmatrix diff --json > $T/plan.json
jqe '[.actions[] | select(.kind | startswith("take ")) | [.kind, .pending, .queues]] ==
	[["take apmask", false, ["07.0004", "07.0010", "07.0047", "07.00ab", "07.00ff"]],
	 ["take aqmask", false, ["08.0010", "09.0010"]]]' $T/plan.json >/dev/null || die "plan: $(jq -c .actions $T/plan.json)"
drivers() { for q in /sys/devices/ap/card*/??.????; do echo "${q##*/} $(basename $(readlink $q/driver))"; done; }
for json in --json ""; do
	drivers > $T/before
	clear_writes
	echo "bus/ap/apmask EIO 1" > /sys/.sim/fail
	apmatrix apply $json > $T/out 2> $T/err; rc=$?
	[ $rc = 1 ] || die "exit $rc, expected 1: $(cat $T/err)"
	[ "$(bad_writes | cut -f1,3 | tr '\t' ' ')" = "bus/ap/apmask EIO" ] || die "failed writes: $(bad_writes)"
	drivers > $T/after
	# what moved: 07.0010 (adapter 0x07 stayed the host's), 08.0010 and 09.0010
	moved=$(diff $T/before $T/after | sed -n 's/^> \([^ ]*\) vfio_ap$/\1/p' | tr '\n' ' ')
	[ "$moved" = "07.0010 08.0010 09.0010 " ] || die "moved: $moved ($(diff $T/before $T/after))"
	if [ "$json" ]; then
		jqe '[.actions[] | select(.kind == "take aqmask") | [.outcome, .queues, .reason]] ==
			[["done", ["07.0010", "08.0010", "09.0010"], "guest3 needs them; 1 other queue leaves the host too: 07.0010"]]' \
			$T/out >/dev/null || die "JSON: $(jq -c '[.actions[] | select(.kind | startswith("take ")) | [.kind, .outcome, .queues, .reason]]' $T/out)"
		[ "$(jq -r '.actions[] | select(.outcome == "done") | .queues[]' $T/out | tr '\n' ' ')" = "$moved" ] ||
			die "the done actions' queues are not what moved: $(jq -c '[.actions[] | [.kind, .outcome, .queues]]' $T/out)"
	else
		grep -qxF "~ aqmask: take 0x10 from host drivers (guest3 needs them; 1 other queue leaves the host too: 07.0010)" $T/out ||
			die "text: $(cat $T/out)"
	fi
	# back to the start for the text run: guest3 goes, guest2 without 0x07
	cp /etc/apmatrix.yaml $T/want.yaml
	cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
	expect_exit 0 apmatrix apply -q
	drivers > $T/reset
	diff $T/before $T/reset >/dev/null || die "not back to the start: $(diff $T/before $T/reset)"
	cp $T/want.yaml /etc/apmatrix.yaml
done
clear_writes
expect_exit 0 apmatrix apply > /dev/null
expect_exit 0 apmatrix diff > /dev/null
[ -z "$(bad_writes)" ] || die "failed writes: $(bad_writes)"
echo OK
EOF2
	assert_success
	assert_output --partial OK
}

@test "6.12: a give-back of the other mask after a mask take that fails is not tried: no EBUSY, the mdev keeps its queue; the next run converges" {
	t=$(seed_topo_07_0a)
	in_sim "$t" <<'EOF2'
# aqmask 0x47 0xab covers gx and gy, apmask 0x0a gz
cat > /etc/apmatrix.yaml <<'Y'
version: 1
guests:
  gx: {adapters: [0x05, 0x06, 0x08, 0x09], domains: [0x47, 0xab]}
  gy: {adapters: [0x07], domains: [0xab]}
  gz: {adapters: [0x0a], domains: [0x10]}
Y
expect_exit 0 apmatrix apply -q
gy=$(uuid_of gy)
# gx drops 0xab, gy takes all of card 07: the plan trades aqmask 0xab for
# apmask 0x07, which keeps gy's 07.00ab from the host; the give-back
# depends on gx's write only
cat > /etc/apmatrix.yaml <<'Y'
version: 1
guests:
  gx: {adapters: [0x05, 0x06, 0x08, 0x09], domains: [0x47]}
  gy: {adapters: [0x07], domains: [0x04, 0x47, 0xab, 0xff]}
  gw: {adapters: [0x0a], domains: [0x10]}
Y
apmatrix diff --json 2>/dev/null | jqe '[.actions[] | select(.kind == "take apmask" or .kind == "release aqmask") | [.kind, .depends_on]] == [["take apmask", []], ["release aqmask", [4]]]' >/dev/null ||
	die "plan: $(apmatrix diff --json 2>/dev/null | jq -c '[.actions[] | [.kind, .guest, .depends_on]]')"
clear_writes
echo "bus/ap/apmask EIO 1" > /sys/.sim/fail
apmatrix apply --json > $T/out 2> $T/err; rc=$?
[ $rc = 1 ] || die "exit $rc, expected 1: $(cat $T/err)"
[ "$(bad_writes | cut -f1,3 | tr '\t' ' ')" = "bus/ap/apmask EIO" ] || die "failed writes: $(bad_writes)"
! grep -q '^bus/ap/aqmask' /sys/.sim/writes || die "the give-back was written: $(cat /sys/.sim/writes)"
grep -qxF "apmatrix: warning: aqmask: give 0xab back to host drivers (no declared guest needs them; 4 queues return to the host drivers: 05.00ab 06.00ab 08.00ab 09.00ab): not tried: it needs an earlier step that failed" $T/err ||
	die "apply said: $(cat $T/err)"
jqe '[.actions[] | select(.kind == "take apmask" or .kind == "release aqmask") | [.kind, .outcome]] == [["take apmask", "failed"], ["release aqmask", "skipped"]]' $T/out >/dev/null ||
	die "JSON: $(jq -c '[.actions[] | [.kind, .guest, .outcome]]' $T/out)"
[ "$(basename $(readlink /sys/devices/ap/card07/07.00ab/driver))" = vfio_ap ] || die "07.00ab handed to the host"
grep -qx 07.00ab $(mdev_dir $gy)/matrix || die "gy lost 07.00ab: $(cat $(mdev_dir $gy)/matrix)"
clear_writes
expect_exit 0 apmatrix apply > /dev/null
expect_exit 0 apmatrix diff > /dev/null
[ -z "$(bad_writes)" ] || die "failed writes: $(bad_writes)"
[ "$(cat $(mdev_dir $gy)/matrix | tr '\n' ' ')" = "07.0004 07.0047 07.00ab 07.00ff " ] || die "gy: $(cat $(mdev_dir $gy)/matrix)"
[ "$(basename $(readlink /sys/devices/ap/card05/05.00ab/driver))" = cex4queue ] || die "05.00ab not given back"
echo OK
EOF2
	assert_success
	assert_output --partial OK
}

@test "a mask give-back skipped because the guest write it needs failed moves nothing: the mask actions after it are counted without it; the next run converges (6.5)" {
	# the seed's cards and two more (0x08, 0x09)
	t=$(seed_topo 6.5)
	cat >>"$t" <<EOT
  - {id: 0x08, type: CEX5A, mode: accel, domains: [0x04, 0x47, 0xab, 0xff]}
  - {id: 0x09, type: CEX5A, mode: accel, domains: [0x04, 0x47, 0xab, 0xff]}
EOT
	in_sim "$t" <<'EOF'
printf 'version: 1\nguests:\n  g1: {adapters: [0x05, 0x06], domains: [0x04]}\n  g2: {adapters: [0x08, 0x09], domains: [0x04, 0x47, 0xab, 0xff]}\n' > /etc/apmatrix.yaml
expect_exit 0 apmatrix apply -q
apmatrix status --json | jqe '.taken == {"apmask": [8, 9], "aqmask": [4]}' >/dev/null || die "bring-up: $(apmatrix status --json | jq -c .taken)"
g2=$(uuid_of g2)
# g1 goes, g2 drops card 08: apmask 0x08 goes back after g2's unassign,
# then aqmask 0x04, which counts 08.0004 as the apmask give-back leaves it
printf 'version: 1\nguests:\n  g2: {adapters: [0x09], domains: [0x04, 0x47, 0xab, 0xff]}\n' > /etc/apmatrix.yaml
apmatrix diff --json | jqe '[.actions[] | [.kind, .guest, .depends_on, .queues]] == [
	["unassign adapter", "g2", [], []], ["remove mdev", "g1", [], []],
	["release apmask", null, [0], ["08.0047", "08.00ab", "08.00ff"]],
	["release aqmask", null, [0, 1], ["05.0004", "06.0004", "08.0004"]]]' >/dev/null ||
	die "plan: $(apmatrix diff --json | jq -c '[.actions[] | [.kind, .guest, .depends_on, .queues]]')"
drivers() { for q in /sys/devices/ap/card*/??.????; do echo "${q##*/} $(basename $(readlink $q/driver))"; done; }
for json in --json ""; do
	drivers > $T/before
	cp /etc/apmatrix.yaml $T/want.yaml
	clear_writes
	echo "devices/vfio_ap/matrix/$g2/unassign_adapter EIO 1" > /sys/.sim/fail
	apmatrix apply $json > $T/out 2> $T/err; rc=$?
	[ $rc = 1 ] || die "exit $rc, expected 1: $(cat $T/err)"
	[ "$(bad_writes | cut -f1,3 | tr '\t' ' ')" = "devices/vfio_ap/matrix/$g2/unassign_adapter EIO" ] || die "failed writes: $(bad_writes)"
	! grep -q '^bus/ap/apmask' /sys/.sim/writes || die "the apmask give-back was written: $(cat /sys/.sim/writes)"
	# round 1 skips the aqmask give-back too (it depends on g2's unassign);
	# round 2 gives 0x04 back: 05.0004 and 06.0004 moved, 08.0004 stays vfio_ap's
	[ "$(grep -c '^bus/ap/aqmask	+0x04	0$' /sys/.sim/writes)" = 1 ] || die "writes: $(cat /sys/.sim/writes)"
	drivers > $T/after
	moved=$(diff $T/before $T/after | sed -n 's/^> \([^ ]*\) cex4queue$/\1/p' | tr '\n' ' ')
	[ "$moved" = "05.0004 06.0004 " ] || die "moved: $moved ($(diff $T/before $T/after))"
	[ "$(basename $(readlink /sys/devices/ap/card08/08.0004/driver))" = vfio_ap ] || die "08.0004 handed to the host"
	grep -qxF "apmatrix: warning: apmask: give 0x08 back to host drivers (no declared guest needs them; 3 queues return to the host drivers: 08.0047 08.00ab 08.00ff): not tried: it needs an earlier step that failed" $T/err ||
		die "stderr: $(cat $T/err)"
	grep -qxF "apmatrix: warning: aqmask: give 0x04 back to host drivers (no declared guest needs them; 2 queues return to the host drivers: 05.0004 06.0004): not tried: it needs an earlier step that failed" $T/err ||
		die "stderr: $(cat $T/err)"
	[ "$(wc -l < $T/err)" = 3 ] || die "stderr: $(cat $T/err)"
	if [ "$json" ]; then
		jqe '.done == 2 and .failed == 1 and .skipped == 2 and
			([.actions[] | select(.kind | startswith("release ")) | [.kind, .outcome, .round, .queues]] == [
			["release apmask", "skipped", 1, ["08.0047", "08.00ab", "08.00ff"]],
			["release aqmask", "skipped", 1, ["05.0004", "06.0004"]],
			["release aqmask", "done", 2, ["05.0004", "06.0004"]]])' $T/out >/dev/null ||
			die "JSON: $(jq -c '[.done, .failed, .skipped, [.actions[] | [.kind, .outcome, .round, .queues]]]' $T/out)"
		[ "$(jq -r '.actions[] | select(.outcome == "done") | .queues[]' $T/out | tr '\n' ' ')" = "$moved" ] ||
			die "the done actions' queues are not what moved: $(jq -c '[.actions[] | [.kind, .outcome, .queues]]' $T/out)"
	else
		grep -qxF "~ aqmask: give 0x04 back to host drivers (no declared guest needs them; 2 queues return to the host drivers: 05.0004 06.0004)" $T/out ||
			die "stdout: $(cat $T/out)"
		grep -qx "2 changes applied, 1 failed, 2 skipped" $T/out || die "summary: $(cat $T/out)"
	fi
	# the next run finishes: g2's unassign, then the apmask give-back with 08.0004
	clear_writes
	apmatrix apply > $T/out 2> $T/err; rc=$?
	[ $rc = 0 ] || die "second apply: exit $rc: $(cat $T/err)"
	grep -qxF "~ apmask: give 0x08 back to host drivers (no declared guest needs them; 4 queues return to the host drivers: 08.0004 08.0047 08.00ab 08.00ff)" $T/out ||
		die "second apply: $(cat $T/out)"
	[ "$(cut -f1,2 /sys/.sim/writes | tr '\t' ' ' | tr '\n' ' ')" = "devices/vfio_ap/matrix/$g2/unassign_adapter 0x08 bus/ap/apmask +0x08 " ] ||
		die "second apply wrote: $(cat /sys/.sim/writes)"
	clear_writes
	expect_exit 0 apmatrix apply > /dev/null
	[ "$(nwrites)" = 0 ] || die "third apply wrote: $(cat /sys/.sim/writes)"
	apmatrix status --json | jqe '[.guests[].state] == ["matches"] and .taken == {"apmask": [9], "aqmask": []}' >/dev/null ||
		die "status: $(apmatrix status --json | jq -c '[.guests, .taken]')"
	# back to the start for the text run
	printf 'version: 1\nguests:\n  g1: {adapters: [0x05, 0x06], domains: [0x04]}\n  g2: {adapters: [0x08, 0x09], domains: [0x04, 0x47, 0xab, 0xff]}\n' > /etc/apmatrix.yaml
	expect_exit 0 apmatrix apply -q
	drivers > $T/reset
	diff $T/before $T/reset >/dev/null || die "not back to the start: $(diff $T/before $T/reset)"
	cp $T/want.yaml /etc/apmatrix.yaml
	g2=$(uuid_of g2)
done
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "pending mask takes name each queue once: the second names only what the first would not move" {
	cat > "$BATS_TEST_TMPDIR/h.yaml" <<'Y'
kernel: 6.12
vfio_ap: loaded
max_adapter: 0x3f
max_domain: 0xff
cards:
  - {id: 0x05, type: CEX7C, mode: cca, domains: [0x04, 0x10, 0xab, 0xcd, 0xef]}
  - {id: 0x06, type: CEX7C, mode: cca, domains: [0xff]}
  - {id: 0x07, type: CEX7C, mode: cca, domains: [0xff]}
  - {id: 0x08, type: CEX7C, mode: cca, domains: [0x10, 0xff]}
  - {id: 0x09, type: CEX7C, mode: cca, domains: [0xff]}
  - {id: 0x0a, type: CEX7C, mode: cca, domains: [0xff]}
Y
	in_sim "$BATS_TEST_TMPDIR/h.yaml" <<'EOF'
printf 'version: 1\nguests:\n  guest1: {adapters: [0x05], domains: [0x04]}\n  guest2: {adapters: [0x07], domains: [0xff]}\n' >/etc/apmatrix.yaml
apmatrix apply -q || die "bring-up"
for g in guest1 guest2; do echo "attach $(uuid_of $g)" > /sys/.sim/guest; done
printf 'version: 1\nguests:\n  guest1: {adapters: [0x05], domains: [0x04, 0x10]}\n  guest2: {adapters: [0x07, 0x08], domains: [0xff]}\n' >/etc/apmatrix.yaml
apmatrix diff --json > $T/plan.json
# both takes wait for the running guests; 08.0010 is in the taken adapter and the taken domain
jqe '[.actions[] | select(.kind == "take apmask" or .kind == "take aqmask") | .pending] == [true, true]' $T/plan.json >/dev/null ||
	die "takes: $(jq -c .actions $T/plan.json)"
[ "$(jq -r '.actions[].queues[]' $T/plan.json | sort | uniq -d)" = "" ] || die "a queue named twice: $(jq -c '[.actions[] | [.kind, .queues]]' $T/plan.json)"
[ "$(jq -r '.actions[].queues[]' $T/plan.json | sort | tr '\n' ' ')" = "05.0010 08.0010 08.00ff " ] ||
	die "queues: $(jq -c '[.actions[] | [.kind, .queues]]' $T/plan.json)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}
