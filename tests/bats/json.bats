#!/usr/bin/env bats
# --json always prints exactly one JSON document, also when there is nothing
# to plan: an invalid configuration gives its diagnostics in the document and
# exit 65, a host that cannot be read its error and exit 1, nothing on stderr
# (apply keeps its messages on stderr too: it runs under systemd, where they
# are the journal).  A usage error (64) alone prints none.

bats_require_minimum_version 1.5.0
load helpers

@test "diff --json with an invalid configuration: one document with the diagnostics, exit 65" {
	run --separate-stderr "$APMATRIX" -c "$EXAMPLES/seed-example2-invalid.yaml" diff --json
	[ "$status" = 65 ]
	[ -z "$stderr" ]
	jqe '.version == 1 and .changes == 0 and (.actions | length) == 0' <<<"$output"
	jqe '.diagnostics[0] | .severity == "error" and .line == 11 and .column == 15 and .guest == "Guest2"' <<<"$output"
}

@test "--json is UTF-8 and a message one line when a file name is not: a Latin-1 byte becomes U+FFFD in the document, a newline \\n; the text escapes the newline" {
	d=$BATS_TEST_TMPDIR
	# a range error in a file whose name holds byte 0xFF, and in a drop-in whose name holds a newline
	printf 'version: 1\nguests:\n  g1:\n    adapters: [5]\n    domains: [0x10-0x05]\n' > "$d/bad"$'\xff'"range.yaml"
	run --separate-stderr "$APMATRIX" -c "$d/bad"$'\xff'"range.yaml" --no-live check --json
	[ "$status" = 65 ]
	iconv -f utf-8 -t utf-8 <<<"$output" > /dev/null
	jq -e --arg f "$d/bad"$'\ufffd'"range.yaml" '.diagnostics[0] | .file == $f and .line == 5' <<<"$output"
	mkdir "$d/dd"
	printf 'version: 1\n' > "$d/main.yaml"
	printf 'guests:\n  g2:\n    adapters: [5]\n    domains: [0x10-0x05]\n' > "$d/dd/10-"$'\n'"x.yaml"
	run --separate-stderr "$APMATRIX" -c "$d/main.yaml" --config-dir "$d/dd" --no-live check --json
	[ "$status" = 65 ]
	jq -e --arg f "$d/dd/10-"$'\n'"x.yaml" '.diagnostics[0] | .file == $f and .line == 4 and .guest == "g2"' <<<"$output"
	run --separate-stderr "$APMATRIX" -c "$d/main.yaml" --config-dir "$d/dd" --no-live check
	[ "$status" = 65 ]
	[ "${#stderr_lines[@]}" = 1 ]
	[[ "$stderr" == "apmatrix: $d/dd/10-\\x0ax.yaml:4:15: guest 'g2': "* ]]
}

@test "show GUEST --json lists that guest alone, off and on the host" {
	run --separate-stderr "$APMATRIX" --no-live -c "$EXAMPLES/seed-two-guests.yaml" show guest2 --json
	[ "$status" = 0 ]
	jqe '[.guests[].name] == ["guest2"] and .valid == true' <<<"$output"
	in_sim "$HOSTS/seed.yaml" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
apmatrix apply > /dev/null
apmatrix show guest1 --json | jqe '[.guests[].name] == ["guest1"] and .undeclared_mdevs == []' >/dev/null || die "$(apmatrix show guest1 --json)"
apmatrix show --json | jqe '[.guests[].name] == ["guest1", "guest2"]' >/dev/null || die "all: $(apmatrix show --json)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "check --json with an invalid configuration: diagnostics sorted by position" {
	f="$BATS_TEST_TMPDIR/two.yaml"
	cat >"$f" <<'EOF'
version: 1
guests:
  b:
    adapters: [0x100]
    domains: [1]
  a:
    adapters: [1]
    domains: [0x1ff]
EOF
	run --separate-stderr "$APMATRIX" --no-live -c "$f" check --json
	[ "$status" = 65 ]
	jqe '[.diagnostics[].line] == ([.diagnostics[].line] | sort)' <<<"$output"
	jqe '(.diagnostics | length) >= 2' <<<"$output"
}

@test "apply --json: what it did, action by action; then changed false; a failed write with its errno; exit codes as without --json" {
	need_root
	in_sim "$HOSTS/seed.yaml" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
apmatrix diff | grep -v '^[0-9]* changes' > $T/plan
apmatrix --json apply > $T/a.json 2> $T/err || die "apply failed: $(cat $T/err)"
[ ! -s $T/err ] || die "stderr: $(cat $T/err)"
jqe '.version == 1 and .changed and .done == 6 and .failed == 0 and .skipped == 0 and .pending == 0' $T/a.json >/dev/null || die "counts: $(cat $T/a.json)"
jqe '[.actions[].outcome] == ["done","done","done","done","done","done"] and ([.actions[].round] | unique) == [1]' $T/a.json >/dev/null || die "outcomes"
jq -r '.actions[].text' $T/a.json | diff - $T/plan || die "the actions are not the plan that diff printed"
[ "$(jq '[.actions[].writes[]] | length' $T/a.json)" = "$(nwrites)" ] || die "writes in the document: not the $(nwrites) made"
apmatrix --json apply > $T/b.json || die "second apply"
jqe '.changed == false and .done == 0 and .actions == [] and .diagnostics == []' $T/b.json >/dev/null || die "second: $(cat $T/b.json)"
# guest1 loses domain 0xab; its matrix write fails
sed -i 's/domains: \[0x04, 0xab\]/domains: [0x04]/' /etc/apmatrix.yaml
echo "devices/vfio_ap/matrix/*/ap_config EIO 1" > /sys/.sim/fail
apmatrix --json apply > $T/c.json 2> $T/err; rc=$?
[ $rc = 1 ] || die "exit $rc"
jqe '.changed == false and .failed == 1 and .skipped == 1' $T/c.json >/dev/null || die "counts: $(cat $T/c.json)"
jqe '.actions[0] | .guest == "guest1" and .kind == "write ap_config" and .outcome == "failed" and .errno == "EIO" and .message == "Input/output error"' $T/c.json >/dev/null || die "failed action: $(jq -c '.actions[0]' $T/c.json)"
jqe '.actions[1] | .kind == "release aqmask" and .outcome == "skipped" and .errno == null and (.message | startswith("not tried"))' $T/c.json >/dev/null || die "skipped action: $(jq -c '.actions[1]' $T/c.json)"
grep -q "guest1 .*: Input/output error (EIO)" $T/err || die "stderr lost the message: $(cat $T/err)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "apply --json: one document also when it stops early (invalid configuration 65, locks 75); import and guest refuse --json" {
	need_root
	in_sim "$HOSTS/seed.yaml" <<'EOF'
cp "$EXAMPLES/seed-example2-invalid.yaml" /etc/apmatrix.yaml
apmatrix --json apply > $T/a.json 2>/dev/null; rc=$?
[ $rc = 65 ] || die "invalid: exit $rc"
jqe '.changed == false and .actions == [] and (.diagnostics[0] | .severity == "error" and .line == 11 and .column == 15 and .guest == "Guest2")' $T/a.json >/dev/null || die "invalid: $(cat $T/a.json)"
[ "$(nwrites)" = 0 ] || die "wrote"
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
hold_s390_lock
apmatrix --json apply --wait 1 > $T/b.json 2> $T/err; rc=$?
# the message names the lock, its holder and the wait; the document carries it
msg="apmatrix: cannot take the lock /run/lock/s390apconfig.lock: process $holder (sleep) holds it (waited 1 s; see --wait)"
release_s390_lock
[ $rc = 75 ] || die "locks: exit $rc"
jqe '.changed == false and .done == 0 and .actions == []' $T/b.json >/dev/null || die "locks: $(cat $T/b.json)"
grep -qxF "$msg" $T/err || die "locks: stderr $(cat $T/err)"
M=${msg#apmatrix: } jqe '.diagnostics == [{"severity": "error", "file": null, "line": null, "column": null, "guest": null, "message": $ENV.M}]' $T/b.json >/dev/null || die "locks: diagnostics $(cat $T/b.json)"
# no AP bus: the same
APMATRIX_SYSFS_ROOT=$T apmatrix --json apply > $T/c.json 2> $T/err; rc=$?
[ $rc = 1 ] || die "no AP bus: exit $rc"
R=$T jqe '.diagnostics[0].message == "no AP bus under \($ENV.R)/bus/ap: this is not an s390 host with crypto adapters"' $T/c.json >/dev/null || die "no AP bus: $(cat $T/c.json)"
for cmd in import "guest guest1"; do
	apmatrix --json $cmd > $T/out 2> $T/err; rc=$?
	[ $rc = 64 ] && [ ! -s $T/out ] && grep -q -- "--json is not an option of ${cmd%% *}" $T/err || die "$cmd --json: exit $rc, $(cat $T/out $T/err)"
done
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "--json when the host cannot be read: diff, status, show and check print one document whose diagnostics carry the error, exit 1, nothing on stderr" {
	need_root
	in_sim "$HOSTS/seed.yaml" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
# no AP bus (show and check then use the configuration alone)
for cmd in diff status; do
	APMATRIX_SYSFS_ROOT=$T apmatrix --json $cmd > $T/out 2> $T/err; rc=$?
	[ $rc = 1 ] && [ ! -s $T/err ] || die "no AP bus, $cmd: exit $rc, stderr $(cat $T/err)"
	R=$T jqe '.diagnostics == [{"severity": "error", "file": null, "line": null, "column": null, "guest": null,
		"message": "no AP bus under \($ENV.R)/bus/ap: this is not an s390 host with crypto adapters"}]' $T/out >/dev/null ||
		die "no AP bus, $cmd: $(cat $T/out)"
done
jqe '.host == null and .taken == null and .guests == [] and .undeclared_mdevs == [] and .unused_vfio_queues == []' $T/out >/dev/null ||
	die "no AP bus, status: $(cat $T/out)"
# ownership records that cannot be read: every command that reads the host
mkdir -p /run/apmatrix
printf 'apmatrix-state 1\nmdev not-a-uuid g\n' > /run/apmatrix/state
msg=$(apmatrix status 2>&1 >/dev/null)
[ "$msg" = "apmatrix: cannot read the ownership records in /run/apmatrix/state: line 2 ('mdev not-a-uuid g') is not a record this apmatrix writes" ] ||
	die "status: $msg"
for cmd in diff status show check; do
	apmatrix --json $cmd > $T/out 2> $T/err; rc=$?
	[ $rc = 1 ] && [ ! -s $T/err ] || die "records, $cmd: exit $rc, stderr $(cat $T/err)"
	M=${msg#apmatrix: } jqe '[.diagnostics[] | select(.severity == "error") | .message] == [$ENV.M]' $T/out >/dev/null ||
		die "records, $cmd: $(cat $T/out)"
done
# show: the status document, as status prints it; check: not valid
apmatrix --json show | jqe '.host == null and .guests == []' >/dev/null || die "show: $(apmatrix --json show)"
apmatrix --json check | jqe '.valid == false and (.guests | length) == 2' >/dev/null || die "check: $(apmatrix --json check)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "show --json with an invalid configuration on a live host: check's document with its errors, exit 65, nothing on stderr" {
	need_root
	in_sim "$HOSTS/seed.yaml" <<'EOF'
cp "$EXAMPLES/seed-example2-invalid.yaml" /etc/apmatrix.yaml
for cmd in show "show Guest2"; do
	apmatrix --json $cmd > $T/out 2> $T/err; rc=$?
	[ $rc = 65 ] && [ ! -s $T/err ] || die "$cmd: exit $rc, stderr $(cat $T/err)"
	jqe '.valid == false and (.diagnostics[0] | .severity == "error" and .line == 11 and .column == 15 and .guest == "Guest2")' $T/out >/dev/null ||
		die "$cmd: $(cat $T/out)"
done
# a valid one: the status document
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
apmatrix --json show | jqe '.host.profile == "dynamic" and .diagnostics == [] and (.guests | length) == 2' >/dev/null ||
	die "valid: $(apmatrix --json show)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "show --json says which document it printed: document \"status\" or \"check\", next to version, each valid against its schema" {
	need_root
	printf "V='%s'\nS='%s'\n" "$TOP/tests/lib/schema-validate" "$TOP/schema" > "$BATS_TEST_TMPDIR/env"
	in_sim "$HOSTS/seed.yaml" <<'EOF'
. $T/env
# doc WANT NAME ARGS...: apmatrix --json ARGS... prints document WANT, valid against WANT's schema
doc() {
	want=$1 name=$2; shift 2
	apmatrix --json "$@" > $T/$name.json 2>/dev/null
	W=$want jqe '.document == $ENV.W and (keys_unsorted | .[0:2]) == ["version", "document"]' $T/$name.json >/dev/null ||
		die "$name: $(cat $T/$name.json)"
	out=$("$V" "$S/$want.schema.json" $T/$name.json)
	[ "$(sed -n 2p <<<"$out" | cut -d' ' -f1)" = valid ] || die "$name vs $want: $out"
}
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
doc status show-valid show
doc status show-guest show guest1
doc check show-no-live --no-live show
doc check check check
doc status status status
APMATRIX_SYSFS_ROOT=$T doc check show-no-bus show
cp "$EXAMPLES/seed-example2-invalid.yaml" /etc/apmatrix.yaml
doc check show-invalid show
doc check check-invalid check
doc status status-invalid status
# a host that cannot be read: the status document, whose diagnostics say why
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
mkdir -p /run/apmatrix
printf 'apmatrix-state 1\nmdev not-a-uuid g\n' > /run/apmatrix/state
doc status show-records show
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "diff and apply --json say which document they printed: document \"diff\" or \"apply\", next to version, on every path" {
	need_root
	printf "V='%s'\nS='%s'\n" "$TOP/tests/lib/schema-validate" "$TOP/schema" > "$BATS_TEST_TMPDIR/env"
	in_sim "$HOSTS/seed.yaml" <<'EOF'
. $T/env
# doc WANT NAME ARGS...: apmatrix --json ARGS... prints document WANT, valid against WANT's schema
doc() {
	want=$1 name=$2; shift 2
	apmatrix --json "$@" > $T/$name.json 2>/dev/null
	W=$want jqe '.document == $ENV.W and (keys_unsorted | .[0:2]) == ["version", "document"]' $T/$name.json >/dev/null ||
		die "$name: $(cat $T/$name.json)"
	out=$("$V" "$S/$want.schema.json" $T/$name.json)
	[ "$(sed -n 2p <<<"$out" | cut -d' ' -f1)" = valid ] || die "$name vs $want: $out"
}
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
doc diff diff diff
doc diff dry-run apply --dry-run
APMATRIX_SYSFS_ROOT=$T doc diff diff-no-bus diff
APMATRIX_SYSFS_ROOT=$T doc apply apply-no-bus apply
doc apply apply apply
jqe '.done > 0' $T/apply.json >/dev/null || die "apply did nothing: $(cat $T/apply.json)"
doc apply apply-again apply
cp "$EXAMPLES/seed-example2-invalid.yaml" /etc/apmatrix.yaml
doc diff diff-invalid diff
doc apply apply-invalid apply
jqe '.diagnostics[0].guest == "Guest2"' $T/apply-invalid.json >/dev/null || die "apply-invalid: $(cat $T/apply-invalid.json)"
# a host that cannot be read: no plan, the diagnostics say why
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
mkdir -p /run/apmatrix
printf 'apmatrix-state 1\nmdev not-a-uuid g\n' > /run/apmatrix/state
doc diff diff-records diff
doc apply apply-records apply
jqe '(.diagnostics | length) > 0' $T/apply-records.json >/dev/null || die "apply-records: $(cat $T/apply-records.json)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "status --json: profile mainline while the kernel interface cannot be told (no mdev yet), dynamic once an mdev tells" {
	need_root
	in_sim "$(seed_topo 6.5)" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
apmatrix status | grep -q '^host: mainline kernel interface (static or dynamic: no mdev yet to tell)' || die "text: $(apmatrix status)"
apmatrix status --json | jqe '.host.profile == "mainline"' >/dev/null || die "before: $(apmatrix status --json)"
apmatrix apply > /dev/null || die apply
apmatrix status --json | jqe '.host.profile == "dynamic"' >/dev/null || die "after: $(apmatrix status --json)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "apply, which holds the lock, does not read /proc/locks to ask who holds it (the kernel takes an RCU grace period to list the locks); status still asks" {
	command -v strace >/dev/null || skip "strace not installed (tests/lib/deps)"
	in_sim "$HOSTS/seed.yaml" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
# LeakSanitizer cannot run under ptrace (an ASAN=1 build): no leak check for the traced runs
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
# a changing run and a converged one
strace -f -qq -e trace=open,openat,openat2 -o $T/tr1 apmatrix apply >/dev/null 2>&1 || die "apply failed"
[ "$(nwrites)" -gt 0 ] || die "the first apply wrote nothing"
clear_writes
strace -f -qq -e trace=open,openat,openat2 -o $T/tr2 apmatrix apply >/dev/null 2>&1 || die "second apply failed"
[ "$(nwrites)" = 0 ] || die "the second apply wrote"
grep -qE '(apmatrix/lock|, "lock", )' $T/tr2 || die "no lock taken? $(cat $T/tr2)"
! grep -q '/proc/locks' $T/tr1 $T/tr2 || die "apply read /proc/locks: $(grep -h /proc/locks $T/tr1 $T/tr2)"
strace -f -qq -e trace=open,openat,openat2 -o $T/tr3 apmatrix status >/dev/null 2>&1 || die "status failed"
grep -q '/proc/locks' $T/tr3 || die "status did not ask"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "--json with a usage error (exit 64): no document, the message on stderr, as the man page says" {
	run --separate-stderr "$APMATRIX" --json apply --wait abc
	[ "$status" = 64 ]
	[ -z "$output" ]
	[[ $stderr == *"invalid --wait 'abc'"* ]]
	# digits only: a sign or a space is no number of seconds (strtol would take them)
	for w in ' 5' '+5' '5 ' '-0' 86401; do
		run --separate-stderr "$APMATRIX" --json apply --wait "$w"
		[ "$status" = 64 ] && [ -z "$output" ] && [[ $stderr == *"invalid --wait '$w'"* ]] || { echo "'$w': $status"; false; }
	done
	# and the man page and the schema say so
	grep -q '^Only a usage error (exit status 64: a wrong command line' "$TOP/man/apmatrix.8"
	jq -e '.description | contains("not on a usage error (exit status 64")' "$TOP/schema/apply.schema.json"
}

@test "status, diff, check and show while an apply holds the lock: a warning naming its process (text and --json), and apply --wait names it; none once it ends" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
apmatrix apply >/dev/null 2>&1 || die "apply failed"
# -o: the lock stays with flock itself (its PID), not with the command
flock -o -x /run/apmatrix/lock -c "touch $T/held; exec sleep 30" >/dev/null 2>&1 & fl=$!
for i in $(seq 100); do [ -e $T/held ] && break; sleep 0.05; done
msg="warning: an apply is running (process $fl): the host is changing while this reads it; run this again when it is done"
apmatrix status >/dev/null 2>$T/err || die "status: exit $?"
grep -qxF "apmatrix: $msg" $T/err || die "status: $(cat $T/err)"
expect_exit 0 apmatrix diff >/dev/null 2>$T/err
grep -qxF "apmatrix: $msg" $T/err || die "diff: $(cat $T/err)"
apmatrix check >/dev/null 2>$T/err || die "check: exit $?"
grep -qxF "apmatrix: $msg" $T/err || die "check: $(cat $T/err)"
# and an apply that gives up waiting names it too
expect_exit 75 apmatrix apply --wait 1 >/dev/null 2>$T/err
grep -qxF "apmatrix: cannot take the lock /run/apmatrix/lock: process $fl (flock) holds it (waited 1 s; see --wait)" $T/err ||
	die "apply: $(cat $T/err)"
grep -qxF "apmatrix: waiting up to 1 s for the lock /run/apmatrix/lock: process $fl (flock) holds it" $T/err ||
	die "apply, wait: $(cat $T/err)"
# --wait 0 does not wait, and does not say it would
expect_exit 75 apmatrix apply --wait 0 >/dev/null 2>$T/err
[ "$(cat $T/err)" = "apmatrix: cannot take the lock /run/apmatrix/lock: process $fl (flock) holds it (waited 0 s; see --wait)" ] ||
	die "apply --wait 0: $(cat $T/err)"
apmatrix status --json > $T/doc 2>$T/err
[ ! -s $T/err ] || die "status --json stderr: $(cat $T/err)"
MSG=${msg#warning: } jqe '[.diagnostics[] | select(.severity == "warning" and .message == $ENV.MSG)] | length == 1' < $T/doc >/dev/null ||
	die "status --json: $(cat $T/doc)"
apmatrix show --json > $T/doc 2>/dev/null
MSG=${msg#warning: } jqe '[.diagnostics[] | select(.message == $ENV.MSG)] | length == 1' < $T/doc >/dev/null || die "show --json: $(cat $T/doc)"
kill $(pgrep -P $fl) $fl; wait $fl 2>/dev/null
apmatrix status >/dev/null 2>$T/err || die "status after: exit $?"
! grep -q 'apply is running' $T/err || die "after: $(cat $T/err)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "check on a host: the ok line as before and host_checked true; a copy of the host's sysfs checks a file against its limits elsewhere, read only" {
	need_root
	printf "V='%s'\nS='%s'\n" "$TOP/tests/lib/schema-validate" "$TOP/schema" > "$BATS_TEST_TMPDIR/env"
	cat > "$BATS_TEST_TMPDIR/oor.yaml" <<'Y'
version: 1
guests:
  guest1:
    adapters: [0x05]
    domains: [0x04]
  guest2:
    adapters: [0x40]
    domains: [0xab]
Y
	mkdir "$BATS_TEST_TMPDIR/empty"
	in_sim "$HOSTS/seed.yaml" <<'EOF'
. $T/env
valid() { out=$("$V" "$S/check.schema.json" "$1"); [ "$(sed -n 2p <<<"$out" | cut -d' ' -f1)" = valid ] || die "$1: $out"; }
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
apmatrix apply > /dev/null || die apply
out=$(apmatrix check) || die "check: $out"
[ "$out" = "ok: 2 guests, 6 APQNs, no conflicts" ] || die "text on the host: $out"
apmatrix check --json > $T/on.json || die "check --json"
jqe '.valid and .host_checked' $T/on.json >/dev/null || die "on the host: $(cat $T/on.json)"
valid $T/on.json
# an invalid configuration is still checked against the host
apmatrix -c $T/oor.yaml check --json > $T/oor.json; [ $? = 65 ] || die "oor: exit"
jqe '.valid == false and .host_checked and (.diagnostics[0].message | test("beyond this host.s maximum 0x3f"))' $T/oor.json >/dev/null ||
	die "oor: $(cat $T/oor.json)"
valid $T/oor.json
# not consulted: --no-live, no AP bus; show's check document
apmatrix --no-live check --json > $T/nolive.json
APMATRIX_SYSFS_ROOT=$T/empty apmatrix check --json > $T/nobus.json
apmatrix --no-live show --json > $T/show.json
for f in nolive nobus show; do
	jqe '.valid and .host_checked == false' $T/$f.json >/dev/null || die "$f: $(cat $T/$f.json)"
	valid $T/$f.json
done
# the capture of apmatrix(8) EXAMPLES (write-only attributes cannot be copied)
mkdir -p $T/cap/sys/bus $T/cap/sys/devices
cp -a /sys/bus/ap $T/cap/sys/bus/ 2>/dev/null
cp -a /sys/devices/ap /sys/devices/vfio_ap $T/cap/sys/devices/ 2>/dev/null
cp -a /run/apmatrix $T/cap/run || die "records"
echo OK
EOF
	assert_success
	assert_output --partial OK
	# outside the simulator, on the copy: the host's maximum, the mdevs as apmatrix's own; nothing written
	cap=$BATS_TEST_TMPDIR/cap
	before=$(cd "$cap" && find . -printf '%p %s %m %T@\n' | sort)
	run --separate-stderr env APMATRIX_SYSFS_ROOT="$cap/sys" APMATRIX_RUNDIR="$cap/run" "$APMATRIX" -c "$BATS_TEST_TMPDIR/oor.yaml" check
	[ "$status" = 65 ]
	[ "${stderr_lines[0]}" = "apmatrix: $BATS_TEST_TMPDIR/oor.yaml:7:16: guest 'guest2': adapters 0x40 beyond this host's maximum 0x3f" ]
	run --separate-stderr env APMATRIX_SYSFS_ROOT="$cap/sys" APMATRIX_RUNDIR="$cap/run" "$APMATRIX" -c "$EXAMPLES/seed-two-guests.yaml" check
	[ "$status" = 0 ]
	[ -z "$stderr" ]
	[ "$output" = "ok: 2 guests, 6 APQNs, no conflicts" ]
	run --separate-stderr env APMATRIX_SYSFS_ROOT="$cap/sys" APMATRIX_RUNDIR="$cap/run" "$APMATRIX" -c "$EXAMPLES/seed-two-guests.yaml" check --json
	[ "$status" = 0 ]
	jqe '.valid and .host_checked and .diagnostics == []' <<<"$output"
	[ "$(cd "$cap" && find . -printf '%p %s %m %T@\n' | sort)" = "$before" ]
	# the schema requires host_checked
	jq 'del(.host_checked)' <<<"$output" > "$BATS_TEST_TMPDIR/no-field.json"
	run "$TOP/tests/lib/schema-validate" "$TOP/schema/check.schema.json" "$BATS_TEST_TMPDIR/no-field.json"
	[[ ${lines[1]} == invalid* ]]
}

@test "apply and diff --json: a pending action says force_helps, waits_for, what --force would do (hot) and where its guest is declared; valid against the schemas" {
	need_root
	printf "V='%s'\nS='%s'\n" "$TOP/tests/lib/schema-validate" "$TOP/schema" > "$BATS_TEST_TMPDIR/env"
	# 6.12: --force would hot unplug guest1's domain; guest2's waits for it
	in_sim "$(seed_topo 6.12)" <<'EOF'
. $T/env
valid() { out=$("$V" "$S/$1.schema.json" $2); [ "$(sed -n 2p <<<"$out" | cut -d' ' -f1)" = valid ] || die "$2 vs $1: $out"; }
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
apmatrix apply > /dev/null || die "bring-up"
g1=$(uuid_of guest1)
echo "attach $g1" > /sys/.sim/guest
sed -i 's/domains: \[0x04, 0xab\]/domains: [0x04]/; s/domains: \[0x47, 0xff\]/domains: [0x47, 0xab]/' /etc/apmatrix.yaml
apmatrix diff --json > $T/d.json; [ $? = 2 ] || die "diff exit"
valid diff $T/d.json
apmatrix apply --json > $T/a.json; [ $? = 2 ] || die "apply exit"
valid apply $T/a.json
for f in $T/d.json $T/a.json; do
	jqe '.actions[] | select(.guest == "guest1") | .pending and .force_helps and .waits_for == "guest1" and .hot == "unplug" and .file == "/etc/apmatrix.yaml" and .line == 7 and .column == 3' $f >/dev/null ||
		die "guest1: $(cat $f)"
	# guest2 is not running: --force would carry it out (after guest1's), no hot plug
	jqe '.actions[] | select(.guest == "guest2") | .pending and .force_helps and .waits_for == "guest1" and .hot == null and .file == "/etc/apmatrix.yaml" and .line == 10 and .column == 3' $f >/dev/null ||
		die "guest2: $(cat $f)"
	jqe '[.actions[] | select(.pending | not) | .force_helps == false and .waits_for == null] | all' $f >/dev/null || die "not pending: $(cat $f)"
	jqe '[.actions[] | select(.guest == null) | .file == null and .line == null and .column == null] | all' $f >/dev/null || die "host actions: $(cat $f)"
done
echo OK
EOF
	assert_success
	assert_output --partial OK
	# 5.15: --force does not help; a running mdev no guest declares waits for itself, by UUID
	in_sim "$(seed_topo 5.15)" <<'EOF'
. $T/env
valid() { out=$("$V" "$S/$1.schema.json" $2); [ "$(sed -n 2p <<<"$out" | cut -d' ' -f1)" = valid ] || die "$2 vs $1: $out"; }
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
echo vfio_ap > /sys/.sim/modprobe
apmatrix apply > /dev/null || die "bring-up"
g1=$(uuid_of guest1); g2=$(uuid_of guest2)
echo "attach $g1" > /sys/.sim/guest
echo "attach $g2" > /sys/.sim/guest
sed -i '/^  guest1:/,/domains/d; s/domains: \[0x47, 0xff\]/domains: [0x47]/' /etc/apmatrix.yaml
apmatrix apply --force --json > $T/a.json; [ $? = 2 ] || die "apply exit"
valid apply $T/a.json
apmatrix diff --json > $T/d.json; [ $? = 2 ] || die "diff exit"
valid diff $T/d.json
for f in $T/d.json $T/a.json; do
	U=$g1 jqe '.actions[] | select(.kind == "remove mdev") | .pending and .force_helps == false and .waits_for == $ENV.U and .hot == null and .file == null' $f >/dev/null ||
		die "remove: $(cat $f)"
	jqe '.actions[] | select(.guest == "guest2") | .pending and .force_helps == false and .waits_for == "guest2" and .hot == null and .line == 7' $f >/dev/null ||
		die "guest2: $(cat $f)"
done
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "status --json names, for an mdev no guest declares, the declared guests it shares queues with and which, as the text does; valid against the schema" {
	need_root
	printf "V='%s'\nS='%s'\n" "$TOP/tests/lib/schema-validate" "$TOP/schema" > "$BATS_TEST_TMPDIR/env"
	in_sim "$HOSTS/seed.yaml" <<'EOF'
. $T/env
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
# an mdev made by hand on guest2's 05.0047 and on 06.0004, which no guest has
F=11111111-2222-3333-4444-555555555555
M=/sys/devices/vfio_ap/matrix
echo -0x05,-0x06 > /sys/bus/ap/apmask
echo $F > $M/mdev_supported_types/vfio_ap-passthrough/create
for v in 0x05 0x06; do echo $v > $M/$F/assign_adapter; done
echo 0x47 > $M/$F/assign_domain
apmatrix status | grep -qxF "    overlaps guest 'guest2' on 05.0047" || die "text: $(apmatrix status)"
apmatrix status --json > $T/st.json
F=$F jqe '[.undeclared_mdevs[] | select(.uuid == $ENV.F) | .overlaps] == [[{"guest":"guest2","apqns":["05.0047"]}]]' $T/st.json >/dev/null ||
	die "JSON: $(jq -c .undeclared_mdevs $T/st.json)"
out=$("$V" "$S/status.schema.json" $T/st.json)
[ "$(sed -n 2p <<<"$out" | cut -d' ' -f1)" = valid ] || die "schema: $out"
# moved to 06.00ab: guest1's now, and nothing of guest2's
echo 0x05 > $M/$F/unassign_adapter
echo 0x47 > $M/$F/unassign_domain
echo 0xab > $M/$F/assign_domain
apmatrix status --json | jqe '[.undeclared_mdevs[].overlaps] == [[{"guest":"guest1","apqns":["06.00ab"]}]]' >/dev/null ||
	die "JSON after: $(apmatrix status --json | jq -c .undeclared_mdevs)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "a guest whose uuid: is invalid has no UUID in check, status and show: uuid null, not the one derived from its name, and no mdev compared; valid against the schemas" {
	need_root
	printf "V='%s'\nS='%s'\n" "$TOP/tests/lib/schema-validate" "$TOP/schema" > "$BATS_TEST_TMPDIR/env"
	in_sim "$HOSTS/seed.yaml" <<'EOF'
. $T/env
seed_two_guests # guest1's mdev has the UUID derived from its name
sed -i 's/^  guest1:$/  guest1:\n    uuid: not-a-uuid/' /etc/apmatrix.yaml
expect_exit 65 apmatrix check --json > $T/check.json
jqe '[.guests[] | select(.name == "guest1") | [.uuid, .uuid_derived]] == [[null, false]]' $T/check.json >/dev/null ||
	die "check: $(jq -c .guests $T/check.json)"
apmatrix status --json > $T/status.json
jqe '[.guests[] | select(.name == "guest1") | [.uuid, .state, .live]] == [[null, "absent", null]]' $T/status.json >/dev/null ||
	die "status: $(jq -c .guests $T/status.json)"
# the mdev of the derived UUID is no guest's now
G1=$g1 jqe '[.undeclared_mdevs[].uuid] == [$ENV.G1]' $T/status.json >/dev/null || die "undeclared: $(jq -c .undeclared_mdevs $T/status.json)"
for d in check status; do
	out=$("$V" "$S/$d.schema.json" $T/$d.json)
	[ "$(sed -n 2p <<<"$out" | cut -d' ' -f1)" = valid ] || die "$d schema: $out"
done
apmatrix status 2>/dev/null | grep -q "^guest1 *(its uuid: is invalid) *absent$" || die "status text: $(apmatrix status 2>&1)"
apmatrix show guest1 2>/dev/null | grep -qxF "  mdev             none (its uuid: is invalid: see the error)" || die "show: $(apmatrix show guest1 2>&1)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}
