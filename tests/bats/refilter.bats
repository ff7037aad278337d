#!/usr/bin/env bats
# 6.0 - 6.9: the kernel filters a guest's view (guest_matrix) only on an
# assign that adds, a queue probe or a configuration change; an unassign
# clears its bit and nothing more (kernel-abi.md §2.5.1).  An adapter left
# out because of a domain stays out after that domain is unassigned, until
# apply assigns it again (plan.c plan_refilter()).

load helpers

setup() {
	need_root
}

# host62 [KERNEL]: card 05 has domains 0x04 and 0x47, card 06 only 0x04, so
# a guest with both adapters and both domains sees only adapter 05.
host62() {
	local f="$BATS_TEST_TMPDIR/host-${1:-6.2}.yaml"
	cat >"$f" <<EOT
kernel: ${1:-6.2}
vfio_ap: loaded
max_adapter: 0x3f
max_domain: 0xff
cards:
  - {id: 0x05, type: CEX7C, mode: cca, domains: [0x04, 0x47]}
  - {id: 0x06, type: CEX7C, mode: cca, domains: [0x04]}
EOT
	echo "$f"
}

# the scripts' configurations: g1 with domains 0x04 and 0x47, then 0x04 only
CONFIGS='
cfg() {
	cat >/etc/apmatrix.yaml <<Y
version: 1
guests:
  g1:
    uuid: 11111111-2222-3333-4444-555555555555
    adapters: [0x05, 0x06]
    domains: [$1]
Y
}
U=11111111-2222-3333-4444-555555555555
gm() { tr "\n" " " < $(mdev_dir $U)/guest_matrix; }
'

@test "6.2: once the domain that kept an adapter out is unassigned, apply assigns the adapter again and the guest sees it" {
	in_sim "$(host62)" <<EOF
$CONFIGS
cfg "0x04, 0x47"
expect_exit 0 apmatrix apply >/dev/null
[ "\$(gm)" = "05.0004 05.0047 " ] || die "bring-up: guest sees \$(gm)"
cfg 0x04
apmatrix diff > \$T/diff; [ \$? = 2 ] || die "diff exit"
grep -q "^- g1: unassign adapter 0x06 (left out of the guest's view by an earlier filter of the kernel, although all its queues are bound to vfio_ap; assigned again next)\$" \$T/diff || die "diff: \$(cat \$T/diff)"
grep -q "^+ g1: assign adapter 0x06 (again, so that the kernel filters the guest's view and shows it)\$" \$T/diff || die "diff: \$(cat \$T/diff)"
predicted=\$(apmatrix diff --json | jq '[.actions[].writes[]] | length')
clear_writes
expect_exit 0 apmatrix apply >/dev/null
[ "\$(nwrites)" = "\$predicted" ] || die "apply made \$(nwrites) writes, the plan said \$predicted"
[ -z "\$(bad_writes)" ] || die "failed writes: \$(bad_writes)"
# the adapter's unassign comes before its assign, and the assign after the domain's unassign
order=\$(cut -f1,2 /sys/.sim/writes | grep -E "\$U/(unassign_adapter|unassign_domain|assign_adapter)" | tr '\t\n' '  ')
[[ "\$order" == *"unassign_adapter 0x06"*"unassign_domain 0x47"*"/assign_adapter 0x06"* ]] ||
	[[ "\$order" == *"unassign_domain 0x47"*"unassign_adapter 0x06"*"/assign_adapter 0x06"* ]] || die "order: \$order"
[ "\$(gm)" = "05.0004 06.0004 " ] || die "guest sees \$(gm)"
clear_writes
apmatrix apply > \$T/out || die "second apply"
[ "\$(nwrites)" = 0 ] || die "second apply wrote: \$(cat /sys/.sim/writes)"
grep -q "^0 changes" \$T/out || die "second apply: \$(cat \$T/out)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "a view left stale before the run (a domain unassigned by hand) is named by show and repaired by apply" {
	in_sim "$(host62 6.0)" <<EOF
$CONFIGS
cfg "0x04, 0x47"
expect_exit 0 apmatrix apply >/dev/null
echo 0x47 > \$(mdev_dir \$U)/unassign_domain || die "unassign by hand"
echo 0x47 > \$(mdev_dir \$U)/unassign_control_domain || die "unassign by hand"
[ "\$(gm)" = "05.0004 " ] || die "stale view expected, guest sees \$(gm)"
cfg 0x04
apmatrix show g1 > \$T/show || die "show"
grep -q "assigned but not visible: adapter 0x06 (left out by an earlier filter of the kernel; apmatrix apply assigns it again)" \$T/show ||
	die "show: \$(cat \$T/show)"
apmatrix status > \$T/status || die "status"
grep -q "^g1 .* matches; adapter 0x06 left out of the guest's view by an earlier filter (apply assigns it again)\$" \$T/status ||
	die "status: \$(cat \$T/status)"
apmatrix diff --json > \$T/diff.json; [ \$? = 2 ] || die "diff exit"
jqe '[.actions[] | select(.uuid != null) | .kind] == ["unassign adapter", "assign adapter"]' \$T/diff.json >/dev/null ||
	die "plan: \$(cat \$T/diff.json)"
clear_writes
expect_exit 0 apmatrix apply >/dev/null
[ "\$(grep -c "\$U/" /sys/.sim/writes)" = 2 ] || die "writes: \$(cat /sys/.sim/writes)"
[ "\$(gm)" = "05.0004 06.0004 " ] || die "guest sees \$(gm)"
apmatrix show g1 > \$T/show || die "show"
! grep -q "not visible" \$T/show || die "show after apply: \$(cat \$T/show)"
apmatrix status > \$T/status || die "status"
grep -q "^g1 .* matches\$" \$T/status || die "status after apply: \$(cat \$T/status)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "a running guest's adapter is assigned again only with --force (hot plug); an adapter that still fails the filter is left alone" {
	in_sim "$(host62)" <<EOF
$CONFIGS
cfg "0x04, 0x47"
expect_exit 0 apmatrix apply >/dev/null
echo "attach \$U" > /sys/.sim/guest
cfg 0x04
clear_writes
apmatrix apply > \$T/out 2> \$T/err; rc=\$?
[ \$rc = 2 ] || die "exit \$rc: \$(cat \$T/err)"
grep -q "g1: unassign adapter 0x06 pending: guest is running (use --force); left out of the guest's view by an earlier filter of the kernel" \$T/err ||
	die "pending reason: \$(cat \$T/err)"
[ "\$(grep -c "\$U" /sys/.sim/writes)" = 0 ] || die "wrote to the running guest's mdev: \$(cat /sys/.sim/writes)"
[ "\$(gm)" = "05.0004 05.0047 " ] || die "guest sees \$(gm)"
expect_exit 0 apmatrix apply --force >/dev/null
[ "\$(gm)" = "05.0004 06.0004 " ] || die "after --force the guest sees \$(gm)"
[ -z "\$(bad_writes)" ] || die "failed writes: \$(bad_writes)"
# 06 lacks 0x47: with 0x47 declared again it is filtered out, and apply leaves it so
echo "detach \$U" > /sys/.sim/guest
cfg "0x04, 0x47"
expect_exit 0 apmatrix apply >/dev/null
[ "\$(gm)" = "05.0004 05.0047 " ] || die "guest sees \$(gm)"
apmatrix diff > \$T/diff || die "diff after apply: \$(cat \$T/diff)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "6.12: the ap_config write filters, so no adapter is assigned again" {
	in_sim "$(host62 6.12)" <<EOF
$CONFIGS
cfg "0x04, 0x47"
expect_exit 0 apmatrix apply >/dev/null
[ "\$(gm)" = "05.0004 05.0047 " ] || die "bring-up: guest sees \$(gm)"
cfg 0x04
apmatrix diff --json > \$T/diff.json
jqe '[.actions[] | select(.kind == "unassign adapter" or .kind == "assign adapter")] | length == 0' \$T/diff.json >/dev/null ||
	die "plan: \$(cat \$T/diff.json)"
expect_exit 0 apmatrix apply >/dev/null
[ "\$(gm)" = "05.0004 06.0004 " ] || die "guest sees \$(gm)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "an adapter the kernel keeps out for a reason sysfs does not show: assigned again once, then apply settles with a warning until the kernel shows it or it is unassigned" {
	in_sim "$(host62)" <<EOF
$CONFIGS
cfg "0x04, 0x47"
expect_exit 0 apmatrix apply >/dev/null
echo "unusable 06.0004" > /sys/.sim/queue || die "sim queue control"
cfg 0x04
clear_writes
apmatrix apply > \$T/out 2> \$T/err; rc=\$?
[ \$rc = 0 ] || die "exit \$rc: \$(cat \$T/err)"
[ "\$(grep -c "\$U/.*assign_adapter" /sys/.sim/writes)" = 2 ] || die "writes: \$(cat /sys/.sim/writes)"
grep -q "guest .g1.: the kernel still keeps adapter 0x06 out of the guest's view after it was assigned again" \$T/err ||
	die "no warning: \$(cat \$T/err)"
[ "\$(grep -c "still keeps" \$T/err)" = 1 ] || die "said more than once: \$(cat \$T/err)"
! grep -q "does not match" \$T/err || die "\$(cat \$T/err)"
[ "\$(gm)" = "05.0004 " ] || die "guest sees \$(gm)"
grep -qx "kept-out \$U 0x0200000000000000000000000000000000000000000000000000000000000000" /run/apmatrix/state ||
	die "state: \$(cat /run/apmatrix/state)"
# settled: the next runs write nothing, say so, and exit 0 (Ansible: not changed)
clear_writes
apmatrix apply > \$T/out 2> \$T/err; rc=\$?
[ \$rc = 0 ] || die "second apply: exit \$rc"
[ "\$(cat \$T/out)" = "0 changes" ] || die "second apply: \$(cat \$T/out)"
[ "\$(nwrites)" = 0 ] || die "second apply wrote: \$(cat /sys/.sim/writes)"
grep -q "warning: guest 'g1': the kernel keeps adapter 0x06 out of the guest's view, also after apply assigned it again" \$T/err ||
	die "second apply: \$(cat \$T/err)"
apmatrix apply --json > \$T/json 2>/dev/null; rc=\$?
[ \$rc = 0 ] || die "json exit \$rc"
jqe '.changed == false and ([.diagnostics[] | select(.severity == "warning" and (.message | test("keeps adapter 0x06 out")))] | length == 1)' \$T/json >/dev/null ||
	die "json: \$(cat \$T/json)"
expect_exit 0 apmatrix diff >/dev/null 2>&1
# the kernel shows it (a probe of its queue filters again): the record goes
echo "usable 06.0004" > /sys/.sim/queue
echo 06.0004 > /sys/bus/ap/drivers/vfio_ap/unbind && echo 06.0004 > /sys/bus/ap/drivers/vfio_ap/bind || die "rebind"
[ "\$(gm)" = "05.0004 06.0004 " ] || die "after the probe the guest sees \$(gm)"
clear_writes
[ "\$(apmatrix apply 2>&1)" = "0 changes" ] || die "apply after the probe"
! grep -q kept-out /run/apmatrix/state || die "state: \$(cat /run/apmatrix/state)"
# left out again later (a domain added and dropped): assigned again at once
cfg "0x04, 0x47"
expect_exit 0 apmatrix apply >/dev/null
cfg 0x04
expect_exit 0 apmatrix apply >/dev/null
[ "\$(gm)" = "05.0004 06.0004 " ] || die "left out again: the guest sees \$(gm)"
# kept out again, then unassigned by hand: apply assigns it and the kernel filters
echo "unusable 06.0004" > /sys/.sim/queue
cfg "0x04, 0x47"
expect_exit 0 apmatrix apply >/dev/null
cfg 0x04
expect_exit 0 apmatrix apply >/dev/null 2>&1
grep -q "kept-out \$U" /run/apmatrix/state || die "not recorded again: \$(cat /run/apmatrix/state)"
echo "usable 06.0004" > /sys/.sim/queue
echo 0x06 > /sys/devices/vfio_ap/matrix/\$U/unassign_adapter || die "unassign by hand"
clear_writes
expect_exit 0 apmatrix apply >/dev/null
[ "\$(grep -c "\$U/assign_adapter" /sys/.sim/writes)" = 1 ] || die "writes: \$(cat /sys/.sim/writes)"
[ "\$(gm)" = "05.0004 06.0004 " ] || die "after the unassign by hand the guest sees \$(gm)"
! grep -q kept-out /run/apmatrix/state || die "state after: \$(cat /run/apmatrix/state)"
clear_writes
expect_exit 0 apmatrix apply >/dev/null
[ "\$(nwrites)" = 0 ] || die "wrote: \$(cat /sys/.sim/writes)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "a guest that starts while apply assigns an adapter again: the assign waits, and its hot is null as the plan's (nothing of the guest's comes or goes)" {
	in_sim "$(host62)" <<EOF
$CONFIGS
cfg "0x04, 0x47"
expect_exit 0 apmatrix apply >/dev/null
cfg 0x04
apmatrix diff | grep -q "^- g1: unassign adapter 0x06 (left out" || die "plan: \$(apmatrix diff)"
clear_writes
echo "wdelay devices/vfio_ap/matrix/\$U/unassign_adapter 1500" > /sys/.sim/fail
apmatrix apply --json > \$T/out 2> \$T/err & pid=\$!
for ((i = 0; i < 600; i++)); do [ -z "\$(cat /sys/.sim/fail)" ] && break; sleep 0.05; done
[ -z "\$(cat /sys/.sim/fail)" ] || die "apply never unassigned adapter 0x06"
echo "attach \$U" > /sys/.sim/guest
wait \$pid; rc=\$?
[ \$rc = 2 ] || die "exit \$rc, expected 2 (pending): \$(cat \$T/err)"
! grep -q "\$U/assign_adapter" /sys/.sim/writes || die "assigned to the running guest: \$(cat /sys/.sim/writes)"
# the aqmask take that only the assign and a give-back that waits too need waits with them
! grep -q "^bus/ap/" /sys/.sim/writes || die "the exit-2 run wrote a mask: \$(cat /sys/.sim/writes)"
grep -q "warning: g1: assign adapter 0x06 pending: guest is running (use --force); it started while apply ran\\\$" \$T/err ||
	die "apply said: \$(cat \$T/err)"
jqe '[.actions[] | select(.kind == "assign adapter") | [.outcome, .hot, .force_helps, .waits_for]] == [["pending", null, true, "g1"]]' \
	< \$T/out >/dev/null || die "JSON: \$(jq -c '.actions' < \$T/out)"
echo "detach \$U" > /sys/.sim/guest
expect_exit 0 apmatrix apply >/dev/null
[ "\$(gm)" = "05.0004 06.0004 " ] || die "guest sees \$(gm)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}
