#!/usr/bin/env bats
# apmatrix import (issue 8): the configuration that reproduces a host set up
# by hand, by mdevctl or for libvirt must check clean and diff to 0 changes;
# and apmatrix guest: the libvirt and QEMU snippets.

load helpers

# topology: the seed's two cards plus a third one (0x07) the host keeps
three_cards() {
	local f
	f=$(seed_topo "$1") || return
	echo '  - {id: 0x07, type: CEX7C, mode: cca,   domains: [0x04, 0x47, 0xab, 0xff]}' >>"$f"
	echo "$f"
}

# round_trip: the checks every import must pass, inside in_sim
ROUND_TRIP='
round_trip() { # [import options...]
	apmatrix import "$@" > $W/imported.yaml || die "import exited $?"
	cat $W/imported.yaml
	apmatrix -c $W/imported.yaml check || die "imported config does not check"
	clear_writes
	apmatrix -c $W/imported.yaml diff > $W/diff.out; rc=$?
	cat $W/diff.out
	[ "$rc" = 0 ] || die "diff exited $rc"
	[ "$(tail -1 $W/diff.out)" = "0 changes" ] || die "diff: $(cat $W/diff.out)"
	[ "$(apmatrix -c $W/imported.yaml diff --json | jq .changes)" = 0 ] || die "diff --json"
	[ "$(nwrites)" = 0 ] || die "diff wrote"
	# and apply agrees: nothing to write
	expect_exit 0 apmatrix -c $W/imported.yaml apply >/dev/null
	[ "$(nwrites)" = 0 ] || die "apply wrote: $(cat /sys/.sim/writes)"
}
'

setup() {
	need_root
}

@test "import: the seed's two guests set up by hand (masks, create, assigns) round-trip to 0 changes" {
	in_sim "$HOSTS/seed.yaml" <<EOF
W=\$(mktemp -d)
$ROUND_TRIP
M=/sys/devices/vfio_ap/matrix
T=\$M/mdev_supported_types/vfio_ap-passthrough
U1=11111111-1111-4111-8111-111111111111
U2=22222222-2222-4222-8222-222222222222
# the seed's procedure on a mainline kernel: reserve, create, assign
echo -0x05,-0x06 > /sys/bus/ap/apmask
echo \$U1 > \$T/create
echo \$U2 > \$T/create
echo 0x5 > \$M/\$U1/assign_adapter
echo 0x6 > \$M/\$U1/assign_adapter
echo 0x4 > \$M/\$U1/assign_domain
echo 0xab > \$M/\$U1/assign_domain
echo 0x5 > \$M/\$U2/assign_adapter
echo 0x47 > \$M/\$U2/assign_domain
echo 0xff > \$M/\$U2/assign_domain
# guest2 also made its usage domains control domains, plus 0x35
for d in 0x47 0xff 0x35; do echo \$d > \$M/\$U2/assign_control_domain; done
round_trip
y=\$W/imported.yaml
# the UUIDs are kept; with no libvirt domain the guest is named by its UUID
[ "\$(apmatrix -c \$y check --json | jq -r '[.guests[] | .name + " " + .uuid] | join(",")')" = "\$U1 \$U1,\$U2 \$U2" ] || die "names/uuids"
[ "\$(apmatrix -c \$y check --json | jq -c '[.guests[].control_domains]')" = '[[],[53,71,255]]' ] || die "control domains"
grep -q 'usage-as-control: false' \$y || die "guest1 has no control domains: the default must be off"
[ "\$(grep -c 'usage-as-control' \$y)" = 1 ] || die "guest2 needs no usage-as-control"
grep -q 'control-domains: \[0x35\]' \$y || die "guest2's extra control domain"
grep -q '^# host.keep: host drivers hold no queue' \$y || die "keep comment"
echo OK
EOF
	echo "$output"
	assert_success
	assert_output --partial OK
}

@test "import: host.keep is the queues host drivers hold (apmask x aqmask), and check then guards them" {
	t=$(three_cards 6.12)
	in_sim "$t" <<EOF
W=\$(mktemp -d)
$ROUND_TRIP
M=/sys/devices/vfio_ap/matrix
T=\$M/mdev_supported_types/vfio_ap-passthrough
U1=11111111-1111-4111-8111-111111111111
# cards 05 and 06 to vfio, and domain 0xff of every card: the host keeps 07.0004-07.00ab
echo -0x05,-0x06 > /sys/bus/ap/apmask
echo -0xff > /sys/bus/ap/aqmask
echo \$U1 > \$T/create
echo 0x05 > \$M/\$U1/assign_adapter
echo 0x04 > \$M/\$U1/assign_domain
round_trip
y=\$W/imported.yaml
[ "\$(apmatrix -c \$y check --json | jq -c .host.keep)" = '{"adapters":[7],"domains":[4,71,171]}' ] || die "keep"
grep -q 'the 3 queues host drivers hold now (apmask x aqmask)' \$y || die "keep comment"
# and says that it blocks new guests on those queues, and how to lift it
grep -B3 '^host:$' \$y | grep -q '^# host.keep reserves its queues for the host: a guest added later on one of them$' || die "keep warning: \$(cat \$y)"
grep -q '^# domain out of host.keep, or remove host.keep.$' \$y || die "keep release"
# a guest on a kept queue is now an error
sed 's/^guests:/guests:\n  new: {adapters: [0x07], domains: [0x47]}/' \$y > \$W/more.yaml
expect_exit 65 apmatrix -c \$W/more.yaml check 2>\$W/err
grep -q "guest 'new': APQN 07.0047 kept by the host" \$W/err || die "keep not enforced: \$(cat \$W/err)"
echo OK
EOF
	echo "$output"
	assert_success
	assert_output --partial OK
}

@test "import --from mdevctl: definitions not started: host.keep leaves out their queues; check passes, apply makes them true" {
	t=$(three_cards 6.12)
	in_sim "$t" <<'EOF'
W=$(mktemp -d)
U1=11111111-2222-3333-4444-555555555555
U2=22222222-2222-4222-8222-222222222222
mkdir -p /etc/mdevctl.d/matrix
# not started: the masks still give 05.0047 to the host
echo '{"mdev_type": "vfio_ap-passthrough", "start": "auto", "attrs": [{"assign_adapter": "0x05"}, {"assign_domain": "0x47"}, {"assign_control_domain": "0x47"}]}' > /etc/mdevctl.d/matrix/$U1
expect_exit 0 apmatrix import --from mdevctl -o $W/y.yaml
cat $W/y.yaml
apmatrix -c $W/y.yaml check || die "imported config does not check"
# leaving out domain 0x47 costs the host 06.0047 and 07.0047; adapter 0x05 would cost 3 queues
[ "$(apmatrix -c $W/y.yaml check --json | jq -c .host.keep)" = '{"adapters":[5,6,7],"domains":[4,171,255]}' ] || die "keep"
grep -q '^  keep:  # 9 of the 12 queues host drivers hold now (apmask x aqmask)$' $W/y.yaml || die "keep comment"
[ "$(grep -A1 '^# claim (apply takes it from the host, and a guest may not claim a kept queue):$' $W/y.yaml | tail -1)" = '#   05.0047' ] || die "claimed comment"
[ "$(grep -A2 '^# It also leaves out 2 queues no guest claims, as host.keep is adapters x domains$' $W/y.yaml | tail -1)" = '#   06.0047 07.0047' ] || die "lost comment"
# diff says what makes the definition true, apply does it, and then nothing is left
apmatrix -c $W/y.yaml diff > $W/diff.out; rc=$?
cat $W/diff.out
[ "$rc" = 2 ] || die "diff exited $rc"
grep -q '^~ aqmask: take 0x47 from host drivers' $W/diff.out || die "diff: masks"
expect_exit 0 apmatrix -c $W/y.yaml apply > /dev/null
apmatrix -c $W/y.yaml diff > $W/diff.out || die "second diff: $(cat $W/diff.out)"
[ "$(tail -1 $W/diff.out)" = "0 changes" ] || die "second diff: $(cat $W/diff.out)"
# host.keep is what the host holds after apply: a live import says the same
apmatrix import > $W/live.yaml || die "live import"
[ "$(apmatrix -c $W/live.yaml check --json | jq -c .host.keep)" = '{"adapters":[5,6,7],"domains":[4,171,255]}' ] || die "live keep"
echo OK
EOF
	echo "$output"
	assert_success
	assert_output --partial OK
}

@test "import --from mdevctl: two definitions not started: host.keep is the best of leaving out each one's adapters or domains" {
	t=$(three_cards 6.12)
	in_sim "$t" <<'EOF'
W=$(mktemp -d)
U1=11111111-1111-4111-8111-111111111111
U2=22222222-2222-4222-8222-222222222222
mkdir -p /etc/mdevctl.d/matrix
echo '{"mdev_type": "vfio_ap-passthrough", "start": "auto", "attrs": [{"assign_adapter": "0x07"}, {"assign_domain": "0x04"}, {"assign_domain": "0x47"}, {"assign_domain": "0xab"}]}' > /etc/mdevctl.d/matrix/$U1
echo '{"mdev_type": "vfio_ap-passthrough", "start": "manual", "attrs": [{"assign_adapter": "0x06"}, {"assign_domain": "0x04"}]}' > /etc/mdevctl.d/matrix/$U2
expect_exit 0 apmatrix import --from mdevctl -o $W/y.yaml
cat $W/y.yaml
apmatrix -c $W/y.yaml check || die "imported config does not check"
# adapter 0x07 out for the first, domain 0x04 out for the second: 6 queues (the other choices keep 4, 3 or 2)
[ "$(apmatrix -c $W/y.yaml check --json | jq -c .host.keep)" = '{"adapters":[5,6],"domains":[71,171,255]}' ] || die "keep"
grep -q '^  keep:  # 6 of the 12 queues host drivers hold now (apmask x aqmask)$' $W/y.yaml || die "keep comment"
grep -q '^# host.keep leaves out the 4 queues host drivers hold now that the imported guests$' $W/y.yaml || die "claimed comment"
[ "$(grep -A1 '^# claim (apply takes them from the host' $W/y.yaml | tail -1)" = '#   06.0004 07.0004 07.0047 07.00ab' ] || die "claimed list"
[ "$(grep -A2 '^# It also leaves out 2 queues no guest claims' $W/y.yaml | tail -1)" = '#   05.0004 07.00ff' ] || die "lost list"
expect_exit 0 apmatrix -c $W/y.yaml apply > /dev/null
apmatrix -c $W/y.yaml diff > $W/diff.out || die "diff after apply: $(cat $W/diff.out)"
[ "$(tail -1 $W/diff.out)" = "0 changes" ] || die "diff after apply: $(cat $W/diff.out)"
echo OK
EOF
	echo "$output"
	assert_success
	assert_output --partial OK
}

@test "import: a mainline host with no mdev yet: the header says the interface as status does (static or dynamic)" {
	in_sim "$HOSTS/static-5.15.yaml" <<'EOF'
W=$(mktemp -d)
want='mainline kernel interface (static or dynamic: no mdev yet to tell)'
hdr='# apmatrix configuration written by `apmatrix import --from live` on a host with the'
echo 'version: 1' > /etc/apmatrix.yaml
apmatrix status | head -1 | grep -qF "host: $want" || die "status: $(apmatrix status | head -1)"
apmatrix import > $W/y.yaml || die import
[ "$(head -1 $W/y.yaml)" = "$hdr $want." ] || die "header: $(head -1 $W/y.yaml)"
echo vfio_ap > /sys/.sim/modprobe
apmatrix import | head -1 | grep -qF "$hdr $want." || die "header, vfio_ap loaded: $(apmatrix import | head -1)"
# an mdev tells
echo 11111111-1111-4111-8111-111111111111 > /sys/devices/vfio_ap/matrix/mdev_supported_types/vfio_ap-passthrough/create || die create
[ "$(apmatrix import 2>/dev/null | head -1)" = "$hdr static kernel interface." ] || die "header with an mdev: $(apmatrix import 2>&1 | head -1)"
echo OK
EOF
	echo "$output"
	assert_success
	assert_output --partial OK
}

@test "import: the seed's exact procedure on the rfc2017 interface (per-queue bind, hex assigns) round-trips" {
	in_sim "$HOSTS/rfc2017.yaml" <<EOF
W=\$(mktemp -d)
$ROUND_TRIP
for q in 05.0004 05.00ab 06.0004 06.00ab 05.0047 05.00ff; do
	echo \$q > /sys/bus/ap/drivers/cex4queue/unbind
	echo \$q > /sys/bus/ap/drivers/vfio_ap_matrix/bind
done
M=/sys/devices/ap_matrix/matrix
U1=11111111-1111-4111-8111-111111111111
U2=22222222-2222-4222-8222-222222222222
echo \$U1 > \$M/mdev_supported_types/ap_matrix-passthrough/create
echo \$U2 > \$M/mdev_supported_types/ap_matrix-passthrough/create
cd \$M/mdev_supported_types/ap_matrix-passthrough/devices/\$U1
echo 5 > assign_adapter; echo 6 > assign_adapter; echo 4 > assign_domain; echo ab > assign_domain
cd ../\$U2
echo 5 > assign_adapter; echo 47 > assign_domain; echo ff > assign_domain
cd /
round_trip
y=\$W/imported.yaml
[ "\$(apmatrix -c \$y check --json | jq -c '[.guests[].apqns]')" = '[["05.0004","05.00ab","06.0004","06.00ab"],["05.0047","05.00ff"]]' ] || die "apqns"
# the host still holds 05.0047's neighbours on card 06: 06.0047 and 06.00ff, not a cross product with card 05
grep -q '^# host.keep is not written' \$y || grep -q '^host:' \$y || die "keep decision missing"
echo OK
EOF
	echo "$output"
	assert_success
	assert_output --partial OK
}

@test "import --from mdevctl: definitions (ordered attrs, unassign, ap_config) started by mdevctl round-trip" {
	command -v mdevctl >/dev/null || skip "mdevctl not installed"
	t=$(three_cards 6.12)
	in_sim "$t" <<EOF
W=\$(mktemp -d)
$ROUND_TRIP
U1=11111111-1111-4111-8111-111111111111
U2=22222222-2222-4222-8222-222222222222
U3=33333333-3333-4333-8333-333333333333
echo -0x05,-0x06 > /sys/bus/ap/apmask
mdevctl define -u \$U1 -p matrix -t vfio_ap-passthrough || die define
for a in assign_adapter=0x05 assign_adapter=6 assign_domain=0x04 assign_domain=0xab \
	assign_domain=0x47 unassign_domain=71 assign_control_domain=0x04 assign_control_domain=0xab; do
	mdevctl modify -u \$U1 --addattr=\${a%%=*} --value=\${a#*=} || die "modify \$a"
done
mdevctl define -u \$U2 -p matrix -t vfio_ap-passthrough || die define
mdevctl modify -u \$U2 --addattr=ap_config \
	--value=0x0400000000000000000000000000000000000000000000000000000000000000,0x0000000000000000010000000000000000000000000000000000000000000001,0x0 \
	|| die "modify ap_config"
mdevctl define -u \$U3 -p matrix -t vfio_ap-passthrough --auto || die define
mdevctl modify -u \$U3 --addattr=assign_adapter --value=0x06 || die modify
mdevctl modify -u \$U3 --addattr=assign_domain --value=0x47 || die modify
for u in \$U1 \$U2 \$U3; do mdevctl start -u \$u || die "start \$u"; done
round_trip --from mdevctl
y=\$W/imported.yaml
j=\$(apmatrix -c \$y check --json)
[ "\$(jq -c '[.guests[] | [.uuid, .apqns]]' <<<"\$j")" = "[[\"\$U1\",[\"05.0004\",\"05.00ab\",\"06.0004\",\"06.00ab\"]],[\"\$U2\",[\"05.0047\",\"05.00ff\"]],[\"\$U3\",[\"06.0047\"]]]" ] || die "guests: \$j"
[ "\$(jq -c '[.guests[].control_domains]' <<<"\$j")" = '[[4,171],[],[]]' ] || die "control domains"
grep -q "from /etc/mdevctl.d/matrix/\$U3 (start: auto)" \$y || die "source comment"
# live import of the same host says the same
apmatrix import | grep -v '^#' | sed 's/ *#.*//' > \$W/live.yaml
grep -v '^#' \$y | grep -v '^ *# from' | sed 's/ *#.*//' > \$W/mdevctl.yaml
diff \$W/live.yaml \$W/mdevctl.yaml || die "live and mdevctl imports differ"
echo OK
EOF
	echo "$output"
	assert_success
	assert_output --partial OK
}

@test "import --from mdevctl and check: ap_config read as the kernel reads it (split at ',' and newline, an empty mask all zero, text after the third ignored); a missing mask is an error at FILE:LINE:COL naming the mdev" {
	t=$(three_cards 6.12)
	in_sim "$t" <<'EOF'
echo -0x05,-0x06 > /sys/bus/ap/apmask
D=/etc/mdevctl.d/matrix; mkdir -p $D
U1=11111111-1111-4111-8111-111111111111
U2=22222222-2222-4222-8222-222222222222
U3=33333333-3333-4333-8333-333333333333
# 05.0004 with a trailing comma; 06.0004 with newlines, an empty control
# mask and text after it
printf '{"mdev_type": "vfio_ap-passthrough", "start": "auto", "attrs": [{"ap_config": "0x04,0x08,0x08,"}]}\n' > $D/$U1
printf '{"mdev_type": "vfio_ap-passthrough", "start": "auto", "attrs": [{"ap_config": "0x02\\n0x08\\n\\njunk"}]}\n' > $D/$U2
grep -qF '"0x02\n0x08\n\njunk"' $D/$U2 || die "definition: $(cat $D/$U2)"
# a number with a newline in it: the message is one line too
printf '{"mdev_type": "vfio_ap-passthrough", "start": "manual", "attrs": [{"assign_adapter": "5\\nx"}]}\n' > $D/$U3
expect_exit 65 apmatrix import --from mdevctl -o $T/z.yaml 2> $T/err
grep -qxF "apmatrix: $D/$U3:1:86: mdev $U3: assign_adapter '5\\x0ax': not a number from 0 to 255 as the kernel reads it" $T/err ||
	die "number: $(cat $T/err)"
rm $D/$U3
apmatrix import --from mdevctl -o $T/y.yaml 2>$T/err || die "import: $(cat $T/err)"
j=$(apmatrix -c $T/y.yaml check --json) || die "check: $j"
[ "$(jq -c '[.guests[] | [.uuid, .apqns, .control_domains]]' <<<"$j")" = "[[\"$U1\",[\"05.0004\"],[4]],[\"$U2\",[\"06.0004\"],[]]]" ] ||
	die "guests: $(jq -c .guests <<<"$j")"
# check counts what mdevctl starts at boot: a guest declaring 05.0004 conflicts with it
printf 'version: 1\nguests:\n  g1: {adapters: [0x05], domains: [0x04]}\n' > /etc/apmatrix.yaml
expect_exit 65 apmatrix check > $T/out 2> $T/err
grep -q "guest 'g1': APQN 05.0004 is also assigned by mdevctl definition $D/$U1" $T/err || die "no conflict: $(cat $T/err)"
! grep -q "hex masks" $T/err || die "read as unloadable: $(cat $T/err)"
# the kernel (the simulator) takes both values as they are, as mdevctl writes them
if command -v mdevctl >/dev/null; then
	mdevctl start -u $U1 && mdevctl start -u $U2 || die "mdevctl start"
	[ "$(cat /sys/bus/mdev/devices/$U1/matrix)" = "05.0004" ] && [ "$(cat /sys/bus/mdev/devices/$U2/matrix)" = "06.0004" ] ||
		die "started: $(cat /sys/bus/mdev/devices/*/matrix)"
fi
# a missing mask: the kernel's EINVAL, an error at the value
printf '{"mdev_type": "vfio_ap-passthrough", "start": "auto", "attrs": [{"ap_config": "0x04\\n0x08"}]}\n' > $D/$U3
expect_exit 65 apmatrix import --from mdevctl -o $T/z.yaml 2> $T/err
# one line: the newline shown escaped
grep -qxF "apmatrix: $D/$U3:1:79: mdev $U3: ap_config '0x04\\x0a0x08': expected three hex masks 'APM,AQM,ADM'" $T/err ||
	die "missing mask: $(cat $T/err)"
[ ! -e $T/z.yaml ] || die "written"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "import: guests are named after the libvirt domain that uses the mdev; odd XML is read safely" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
W=$(mktemp -d)
M=/sys/devices/vfio_ap/matrix
T=$M/mdev_supported_types/vfio_ap-passthrough
U1=11111111-1111-4111-8111-111111111111
U2=22222222-2222-4222-8222-222222222222
U3=33333333-3333-4333-8333-333333333333
echo -0x05,-0x06 > /sys/bus/ap/apmask
for u in $U1 $U2 $U3; do echo $u > $T/create; done
echo 0x05 > $M/$U1/assign_adapter; echo 0x04 > $M/$U1/assign_domain
echo 0x05 > $M/$U2/assign_adapter; echo 0x47 > $M/$U2/assign_domain
echo 0x06 > $M/$U3/assign_adapter; echo 0x47 > $M/$U3/assign_domain
mkdir -p /etc/libvirt/qemu/autostart
q=/etc/libvirt/qemu
# uppercase UUID, comments, a character reference in the name, other hostdevs
cat > $q/web.xml <<EOX
<?xml version="1.0"?>
<!-- WARNING: THIS IS AN AUTO-GENERATED FILE -->
<domain type='kvm'>
  <name>web&#45;1<!-- split --></name>
  <uuid>aaaaaaaa-0000-4000-8000-000000000000</uuid>
  <devices>
    <hostdev mode='subsystem' type='pci'><source><address domain='0' bus='0' slot='1' function='0'/></source></hostdev>
    <hostdev mode="subsystem" type="mdev" model="vfio-ap">
      <source>
        <address uuid="${U1^^}"/>
      </source>
    </hostdev>
  </devices>
</domain>
EOX
# a name apmatrix cannot use: the guest is named by its UUID
cat > $q/bad-name.xml <<EOX
<domain type='kvm'><name>my guest</name><devices><hostdev mode='subsystem' type='mdev' model='vfio-ap'><source><address uuid='$U2'/></source></hostdev></devices></domain>
EOX
# entity tricks are not read at all
cat > $q/doctype.xml <<EOX
<!DOCTYPE domain [<!ENTITY x "evil">]>
<domain><name>&x;</name><devices><hostdev type='mdev'><source><address uuid='$U3'/></source></hostdev></devices></domain>
EOX
# broken XML is skipped with a warning naming the place
printf '<domain><name>broken</name>\n<devices><hostdev type="mdev"><source><address uuid=%s/>\n' $U3 > $q/broken.xml
# the mdev of a domain that is not in /etc/libvirt/qemu/*.xml keeps its UUID
echo '<domain><name>auto</name></domain>' > $q/autostart/auto.xml
apmatrix import > $W/y.yaml 2>$W/err || die "import failed: $(cat $W/err)"
cat $W/y.yaml $W/err
apmatrix -c $W/y.yaml check >/dev/null || die "check"
[ "$(apmatrix -c $W/y.yaml check --json | jq -r '[.guests[].name] | join(" ")')" = "$U2 $U3 web-1" ] || die "names"
grep -q "web-1:  # libvirt domain in /etc/libvirt/qemu/web.xml" $W/y.yaml || die "comment"
grep -q "libvirt domain 'my guest' (/etc/libvirt/qemu/bad-name.xml) is not a valid guest name" $W/err || die "bad name warning"
grep -q "doctype.xml:1:1: warning: DOCTYPE" $W/err || die "doctype warning"
grep -q "broken.xml:3:.*warning: unterminated attribute value\|broken.xml:[0-9]*:[0-9]*: warning: " $W/err || die "broken warning"
expect_exit 0 apmatrix -c $W/y.yaml diff >/dev/null
echo OK
EOF
	echo "$output"
	assert_success
	assert_output --partial OK
}

@test "import: two mdevs in one libvirt domain: the second is named apart and QEMU's one-device limit is said" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
W=$(mktemp -d)
M=/sys/devices/vfio_ap/matrix
T=$M/mdev_supported_types/vfio_ap-passthrough
U1=11111111-1111-4111-8111-111111111111
U2=22222222-2222-4222-8222-222222222222
echo -0x05 > /sys/bus/ap/apmask
for u in $U1 $U2; do echo $u > $T/create; echo 0x05 > $M/$u/assign_adapter; done
echo 0x04 > $M/$U1/assign_domain; echo 0x47 > $M/$U2/assign_domain
mkdir -p /etc/libvirt/qemu
cat > /etc/libvirt/qemu/db.xml <<EOX
<domain><name>db</name><devices>
<hostdev type='mdev' model='vfio-ap'><source><address uuid='$U1'/></source></hostdev>
<hostdev type='mdev' model='vfio-ap'><source><address uuid='$U2'/></source></hostdev>
</devices></domain>
EOX
apmatrix import > $W/y.yaml 2>$W/err || die import
cat $W/y.yaml $W/err
grep -q "QEMU allows one vfio-ap device per guest" $W/err || die "no warning"
[ "$(apmatrix -c $W/y.yaml check --json | jq -r '[.guests[].name] | join(" ")')" = "db db-22222222" ] || die names
expect_exit 0 apmatrix -c $W/y.yaml diff >/dev/null
echo OK
EOF
	echo "$output"
	assert_success
	assert_output --partial OK
}

@test "import: the libvirt domain's name wins over the name apmatrix recorded for another mdev, with a warning naming both" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
W=$(mktemp -d)
M=/sys/devices/vfio_ap/matrix
cp $EXAMPLES/seed-two-guests.yaml /etc/apmatrix.yaml
apmatrix apply > /dev/null || die apply
U2=$(uuid_of guest2)
U3=ffffffff-0000-0000-0000-000000000001
# by hand: an mdev that libvirt domain 'guest2' uses; apmatrix recorded 'guest2' for $U2
echo -0x06 > /sys/bus/ap/apmask
echo $U3 > $M/mdev_supported_types/vfio_ap-passthrough/create
echo 6 > $M/$U3/assign_adapter; echo 0x47 > $M/$U3/assign_domain
mkdir -p /etc/libvirt/qemu
cat > /etc/libvirt/qemu/g2.xml <<EOX
<domain type='kvm'><name>guest2</name><devices><hostdev mode='subsystem' type='mdev' model='vfio-ap'><source><address uuid='$U3'/></source></hostdev></devices></domain>
EOX
apmatrix import > $W/y.yaml 2>$W/err || die "import exited $?"
cat $W/y.yaml $W/err
apmatrix -c $W/y.yaml check >/dev/null || die check
[ "$(apmatrix -c $W/y.yaml check --json | jq -r --arg u $U3 '.guests[] | select(.uuid == $u) | .name')" = guest2 ] || die "libvirt name not given to $U3"
N2="guest2-${U2:0:8}"
[ "$(apmatrix -c $W/y.yaml check --json | jq -r --arg u $U2 '.guests[] | select(.uuid == $u) | .name')" = "$N2" ] || die "$U2 not named apart"
apmatrix -c $W/y.yaml guest guest2 | grep -q "uuid='$U3'" || die "guest guest2 hands libvirt the wrong UUID"
grep -q "^apmatrix: warning: mdev $U2: apmatrix recorded the name 'guest2' when it created it, but libvirt domain 'guest2' (/etc/libvirt/qemu/g2.xml) uses mdev $U3: that one is named 'guest2', this one '$N2'$" $W/err || die "warning"
grep -q "^  $N2:  # apmatrix recorded the name 'guest2' when it created the mdev; a libvirt domain of that name uses another mdev$" $W/y.yaml || die "comment of $N2"
grep -q "second mdev" $W/y.yaml && die "comment says a domain has two mdevs"
# whatever the UUID order: libvirt domain 'guest1' uses $U2 too, so the recorded guest1 mdev is named apart
U1=$(uuid_of guest1)
cat > /etc/libvirt/qemu/guest1.xml <<EOX
<domain type='kvm'><name>guest1</name><devices><hostdev mode='subsystem' type='mdev' model='vfio-ap'><source><address uuid='$U2'/></source></hostdev></devices></domain>
EOX
apmatrix import > $W/y.yaml 2>$W/err || die "import exited $?"
cat $W/y.yaml $W/err
[ "$(apmatrix -c $W/y.yaml check --json | jq -r '[.guests[] | .name + "=" + .uuid] | sort | join(" ")')" = "guest1-${U1:0:8}=$U1 guest1=$U2 guest2=$U3" ] || die "names, second case"
grep -q "^apmatrix: warning: mdev $U1: apmatrix recorded the name 'guest1' when it created it, but libvirt domain 'guest1' (/etc/libvirt/qemu/guest1.xml) uses mdev $U2: " $W/err || die "warning, second case"
echo OK
EOF
	echo "$output"
	assert_success
	assert_output --partial OK
}

@test "import --from mdevctl: two definitions that assign one queue: an error naming both files and the APQN, exit 65, nothing written" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
W=$(mktemp -d)
D=/etc/mdevctl.d/matrix
U1=bbbbbbbb-0000-4000-8000-000000000001
U2=bbbbbbbb-0000-4000-8000-000000000002
mkdir -p $D
echo '{"mdev_type": "vfio_ap-passthrough", "start": "auto", "attrs": [{"assign_adapter": "5"}, {"assign_domain": "71"}]}' > $D/$U1
echo '{"mdev_type": "vfio_ap-passthrough", "start": "manual", "attrs": [{"assign_adapter": "0x05"}, {"assign_domain": "0x47"}]}' > $D/$U2
expect_exit 65 apmatrix import --from mdevctl -o $W/y.yaml 2>$W/err
cat $W/err
[ ! -e $W/y.yaml ] || die "written despite the conflict"
[ "$(grep -c 'both assign' $W/err)" = 1 ] || die "one line per conflict"
grep -q "^apmatrix: $D/$U1 and $D/$U2 both assign APQN 05.0047: a queue can be in one mdev only; undefine or edit one of them$" $W/err || die "error text"
grep -q "^apmatrix: nothing was written$" $W/err || die "nothing written"
grep -q "warning" $W/err && die "warnings about a file that is not written"
# a third definition: one line per pair, every shared APQN named
echo '{"mdev_type": "vfio_ap-passthrough", "start": "auto", "attrs": [{"assign_adapter": "0x05"}, {"assign_adapter": "0x06"}, {"assign_domain": "0x47"}]}' > $D/$U2
echo '{"mdev_type": "vfio_ap-passthrough", "start": "auto", "attrs": [{"assign_adapter": "0x06"}, {"assign_domain": "0x47"}, {"assign_domain": "0x04"}]}' > $D/cccccccc-0000-4000-8000-000000000003
expect_exit 65 apmatrix import --from mdevctl 2>$W/err >$W/out
cat $W/err
[ ! -s $W/out ] || die "YAML printed despite the conflict"
[ "$(grep -c 'both assign' $W/err)" = 2 ] || die "one line per conflict"
grep -q "^apmatrix: $D/$U2 and $D/cccccccc-0000-4000-8000-000000000003 both assign APQN 06.0047: " $W/err || die "second conflict"
echo OK
EOF
	echo "$output"
	assert_success
	assert_output --partial OK
}

@test "import --from mdevctl: two files that name one UUID (upper and lower case, 32 hex digits): an error naming both, exit 65, nothing written; no YAML with the guest twice" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
W=$(mktemp -d)
D=/etc/mdevctl.d/matrix
mkdir -p $D
U=bbbbbbbb-0000-4000-8000-000000000001
echo '{"mdev_type": "vfio_ap-passthrough", "start": "auto", "attrs": [{"assign_adapter": "5"}, {"assign_domain": "4"}]}' > $D/$U
echo '{"mdev_type": "vfio_ap-passthrough", "start": "auto", "attrs": [{"assign_adapter": "6"}, {"assign_domain": "4"}]}' > $D/BBBBBBBB-0000-4000-8000-000000000001
expect_exit 65 apmatrix import --from mdevctl -o $W/y.yaml 2>$W/err
cat $W/err
[ ! -e $W/y.yaml ] || die "written: $(cat $W/y.yaml)"
grep -qxF "apmatrix: $D/BBBBBBBB-0000-4000-8000-000000000001 and $D/$U both define mdev $U: mdevctl starts the first it reads, and the other's start fails (the mdev exists); undefine or remove one of them" $W/err || die "error text"
grep -q "both assign" $W/err && die "an overlap said too"
rm $D/BBBBBBBB-0000-4000-8000-000000000001
echo '{"mdev_type": "vfio_ap-passthrough", "start": "manual", "attrs": [{"assign_adapter": "5"}, {"assign_domain": "4"}]}' > $D/bbbbbbbb000040008000000000000001
expect_exit 65 apmatrix import --from mdevctl 2>$W/err >$W/out
[ ! -s $W/out ] || die "YAML printed: $(cat $W/out)"
grep -qF "apmatrix: $D/$U and $D/bbbbbbbb000040008000000000000001 both define mdev $U:" $W/err || die "32 hex digits: $(cat $W/err)"
[ "$(grep -c '^apmatrix: /' $W/err)" = 1 ] || die "one error: $(cat $W/err)"
echo OK
EOF
	echo "$output"
	assert_success
	assert_output --partial OK
}

@test "import --from mdevctl: a key given twice in a definition: the last one, as mdevctl takes it, with a warning at FILE:LINE:COL naming the first; check and diff agree with what mdevctl started" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
W=$(mktemp -d)
D=/etc/mdevctl.d/matrix
A=cccccccc-0000-4000-8000-000000000001
B=cccccccc-0000-4000-8000-000000000002
mkdir -p $D
# A: "start" and "attrs" twice (manual 05.0047, then auto 06.0047); B: an attrs entry with its key twice
echo '{"mdev_type": "vfio_ap-passthrough", "start": "manual", "attrs": [{"assign_adapter": "0x05"}, {"assign_domain": "0x47"}], "start": "auto", "attrs": [{"assign_adapter": "0x06"}, {"assign_domain": "0x47"}]}' > $D/$A
echo '{"mdev_type": "vfio_ap-passthrough", "start": "manual", "attrs": [{"assign_adapter": "0x05", "assign_adapter": "0x07"}, {"assign_domain": "0xab"}]}' > $D/$B
echo -0x06 > /sys/bus/ap/apmask; echo -0x47 > /sys/bus/ap/aqmask
if command -v mdevctl >/dev/null; then
	# mdevctl 1.2.0 loads both, the last value of each key, and starts A (auto) as 06.0047
	mdevctl list -d --dumpjson > $W/defs.json || die "mdevctl list --defined"
	jq -e --arg a $A --arg b $B '.[0].matrix | add |
		.[$a].start == "auto" and .[$a].attrs == [{"assign_adapter": "0x06"}, {"assign_domain": "0x47"}] and
		.[$b].attrs == [{"assign_adapter": "0x07"}, {"assign_domain": "0xab"}]' $W/defs.json >/dev/null ||
		die "mdevctl read: $(cat $W/defs.json)"
	mdevctl start-parent-mdevs matrix || die start-parent-mdevs
	[ "$(cat /sys/devices/vfio_ap/matrix/$A/matrix)" = "06.0047" ] || die "mdevctl started A as $(cat /sys/devices/vfio_ap/matrix/$A/matrix)"
else
	echo $A > /sys/devices/vfio_ap/matrix/mdev_supported_types/vfio_ap-passthrough/create
	echo 0x06 > /sys/devices/vfio_ap/matrix/$A/assign_adapter; echo 0x47 > /sys/devices/vfio_ap/matrix/$A/assign_domain
fi
apmatrix import --from mdevctl -o $W/y.yaml 2>$W/err || die "import exited $?: $(cat $W/err)"
cat $W/err $W/y.yaml
for w in "$A:1:123: warning: mdev $A: duplicate key \"start\" (first at 1:38)" \
	 "$A:1:140: warning: mdev $A: duplicate key \"attrs\" (first at 1:57)" \
	 "$B:1:94: warning: mdev $B: duplicate key \"assign_adapter\" (first at 1:68)"; do
	grep -qxF "apmatrix: $D/$w: mdevctl takes the last one, and so does apmatrix" $W/err || die "no warning: $w"
done
grep -qF "# from $D/$A (start: auto)" $W/y.yaml || die "A's start"
grep -A3 "# from $D/$A " $W/y.yaml | grep -qx '    adapters: \[0x06\]' || die "A's adapters"
grep -A3 "# from $D/$B " $W/y.yaml | grep -qx '    adapters: \[0x07\]' || die "B's adapters"
# check warns the same (a definition's problems are mdevctl's: warnings); diff leaves A as mdevctl started it
apmatrix -c $W/y.yaml check > $W/out 2>&1 || die "check: $(cat $W/out)"
cat $W/out
grep -qF "apmatrix: $D/$A:1:123: warning: mdevctl: mdev $A: duplicate key \"start\" (first at 1:38)" $W/out || die "check's warning"
apmatrix -c $W/y.yaml diff > $W/diff.out; rc=$?
cat $W/diff.out
[ "$rc" = 2 ] || die "diff exited $rc"
grep -q "^[-+~] $A " $W/diff.out && die "diff changes $A"
grep -q "^+ $B .*create mdev" $W/diff.out || die "diff does not create $B"
echo OK
EOF
	echo "$output"
	assert_success
	assert_output --partial OK
}

@test "import --from mdevctl: a definition of another mdev type that mdevctl cannot load (no start, attrs not an array, a number): a warning and the note that mdevctl starts none there at boot; the others are imported" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
W=$(mktemp -d)
D=/etc/mdevctl.d/matrix
G=dddddddd-0000-4000-8000-000000000001
X=dddddddd-0000-4000-8000-000000000002
mkdir -p $D
echo '{"mdev_type": "vfio_ap-passthrough", "start": "auto", "attrs": [{"assign_adapter": "0x06"}, {"assign_domain": "0x47"}]}' > $D/$G
echo -0x06 > /sys/bus/ap/apmask; echo -0x47 > /sys/bus/ap/aqmask
note="apmatrix: note: while mdevctl cannot load a definition in $D, \"mdevctl list --defined\" fails and mdevctl starts none of the definitions there at boot (start-parent-mdevs); \"mdevctl start -u\" still starts each of the others"
while IFS='|' read -r def at what; do
	echo "== $def"
	echo "$def" > $D/$X
	if command -v mdevctl >/dev/null; then
		# mdevctl 1.2.0: the other type's definition stops them all, G (auto) included
		mdevctl list -d >/dev/null 2>&1 && die "mdevctl list --defined loaded $def"
		mdevctl start-parent-mdevs matrix >/dev/null 2>&1
		[ -e /sys/devices/vfio_ap/matrix/$G ] && die "mdevctl started $G beside $def"
	fi
	apmatrix import --from mdevctl -o $W/y.yaml --force 2>$W/err || die "import exited $?: $(cat $W/err)"
	cat $W/err
	grep -qxF "apmatrix: $D/$X:$at: warning: mdev $X: $what; mdevctl cannot load the definition" $W/err || die "no warning for $def"
	grep -qxF "apmatrix: warning: $D/$X: mdev type 'other' is not vfio_ap; skipped" $W/err || die "not skipped: $def"
	grep -qxF "$note" $W/err || die "no note for $def"
	grep -qF "# from $D/$G (start: auto)" $W/y.yaml || die "$G not imported"
	grep -q "$X" $W/y.yaml && die "$X imported"
	cp $W/y.yaml /etc/apmatrix.yaml
	apmatrix check > $W/out 2>&1 || die "check: $(cat $W/out)"
	grep -qxF "apmatrix: $D/$X:$at: warning: mdevctl: mdev $X: $what; mdevctl cannot load the definition" $W/out || die "check: no warning for $def: $(cat $W/out)"
	grep -qF "warning: mdevctl: while mdevctl cannot load a definition in $D" $W/out || die "check: no note for $def"
done <<'DEFS'
{"mdev_type": "other", "attrs": []}|1:1|no "start" ("auto" or "manual")
{"mdev_type": "other", "start": "auto", "attrs": {"assign_adapter": "0x05"}}|1:50|"attrs" is not an array
{"mdev_type": "other", "start": "manual", "attrs": [{"a": "x"}, {"b": 5}]}|1:71|b: the value 5 is a JSON number, not a string ("5")
DEFS
# one mdevctl loads: skipped, with no note
echo '{"mdev_type": "other", "start": "manual", "attrs": [{"a": "x"}]}' > $D/$X
if command -v mdevctl >/dev/null; then
	mdevctl list -d >/dev/null || die "mdevctl list --defined"
fi
apmatrix import --from mdevctl 2>$W/err >/dev/null || die "import exited $?: $(cat $W/err)"
cat $W/err
grep -qxF "apmatrix: warning: $D/$X: mdev type 'other' is not vfio_ap; skipped" $W/err || die "not skipped"
grep -q "cannot load" $W/err && die "a note for a definition mdevctl loads"
# a vfio_ap definition: every entry's shape is checked before any value, as mdevctl loads them all first
rm $D/$X
echo '{"mdev_type": "vfio_ap-passthrough", "start": "auto", "attrs": [{"assign_adapter": "0x100"}, {"assign_domain": 5}]}' > $D/$X
if command -v mdevctl >/dev/null; then
	mdevctl list -d >/dev/null 2>&1 && die "mdevctl list --defined loaded it"
fi
expect_exit 65 apmatrix import --from mdevctl 2>$W/err >/dev/null
cat $W/err
grep -qxF "apmatrix: $D/$X:1:112: mdev $X: assign_domain: the value 5 is a JSON number, not a string (\"5\"); mdevctl cannot load the definition" $W/err || die "vfio_ap: no error for the number"
grep -qxF "$note" $W/err || die "vfio_ap: no note"
echo OK
EOF
	echo "$output"
	assert_success
	assert_output --partial OK
}

@test "import --from mdevctl: a definition that is not started: a warning that apply creates its mdev; the help does not promise 0 changes" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
W=$(mktemp -d)
D=/etc/mdevctl.d/matrix
M=/sys/devices/vfio_ap/matrix
U1=bbbbbbbb-0000-4000-8000-000000000001
U2=bbbbbbbb-0000-4000-8000-000000000002
mkdir -p $D
# U1 started (its mdev exists), U2 not (start: manual)
echo '{"mdev_type": "vfio_ap-passthrough", "start": "auto", "attrs": [{"assign_adapter": "0x05"}, {"assign_domain": "0x47"}]}' > $D/$U1
echo '{"mdev_type": "vfio_ap-passthrough", "start": "manual", "attrs": [{"assign_adapter": "0x06"}, {"assign_domain": "0xab"}]}' > $D/$U2
echo -0x05 > /sys/bus/ap/apmask
echo $U1 > $M/mdev_supported_types/vfio_ap-passthrough/create
echo 0x05 > $M/$U1/assign_adapter; echo 0x47 > $M/$U1/assign_domain
expect_exit 0 apmatrix import --from mdevctl -o $W/y.yaml 2>$W/err
cat $W/err
[ "$(grep -c 'warning: ' $W/err)" = 1 ] || die "one warning, for the definition not started"
grep -q "^apmatrix: warning: $D/$U2: the definition is not started, so apply will create the mdev; once apmatrix manages it, undefine the definition (mdevctl undefine -u $U2) so that mdevctl and apmatrix do not both manage it$" $W/err || die "warning text"
# and so it is: diff creates that mdev, and only that one
apmatrix -c $W/y.yaml diff > $W/diff.out; rc=$?
cat $W/diff.out
[ "$rc" = 2 ] || die "diff exited $rc"
grep -q "^+ $U2 .*create mdev" $W/diff.out || die "diff does not create $U2"
grep -q "^+ $U1 " $W/diff.out && die "diff creates the started $U1"
apmatrix help import | tr '\n' ' ' | grep -q "reports 0 changes, except that apply creates the mdev of each mdevctl definition that is not started" || die "help"
echo OK
EOF
	echo "$output"
	assert_success
	assert_output --partial OK
}

@test "import --from mdevctl: a started mdev whose matrix was changed after its start: a warning names the mdev, the file and both matrices; the definition's is imported and diff sets the mdev back" {
	command -v mdevctl >/dev/null || skip "mdevctl not installed"
	in_sim "$HOSTS/seed.yaml" <<'EOF'
W=$(mktemp -d)
M=/sys/devices/vfio_ap/matrix
D=/etc/mdevctl.d/matrix
U1=eeeeeeee-0000-4000-8000-000000000001
echo -0x05,-0x06 > /sys/bus/ap/apmask
mdevctl define -u $U1 -p matrix -t vfio_ap-passthrough --auto || die define
mdevctl modify -u $U1 --addattr=assign_adapter --value=0x05 || die modify
mdevctl modify -u $U1 --addattr=assign_domain --value=0x04 || die modify
mdevctl start -u $U1 || die start
# as started: nothing to say
expect_exit 0 apmatrix import --from mdevctl -o $W/same.yaml 2>$W/err
grep -q "another matrix" $W/err && die "warned as started: $(cat $W/err)"
# a domain assigned by hand after the start
echo 0x47 > $M/$U1/assign_domain
expect_exit 0 apmatrix import --from mdevctl -o $W/y.yaml 2>$W/err
cat $W/err
grep -qxF "apmatrix: warning: mdev $U1: its definition $D/$U1 gives it another matrix (adapters 0x05, domains 0x04, control domains -) than it has live (adapters 0x05, domains 0x04,0x47, control domains -): the definition's is imported, so apply would set the mdev to it; import --from live imports the live one" $W/err || die "warning"
[ "$(grep -c 'warning: ' $W/err)" = 1 ] || die "one warning: $(cat $W/err)"
grep -A3 "uuid: $U1" $W/y.yaml | grep -q "domains: \[0x04\]" || die "not the definition's matrix: $(cat $W/y.yaml)"
# as said: diff sets the mdev back to the definition
apmatrix -c $W/y.yaml diff > $W/diff.out; rc=$?
cat $W/diff.out
[ "$rc" = 2 ] && grep -q "^~ $U1 .*set matrix.*domains -0x47" $W/diff.out || die "diff $rc: $(cat $W/diff.out)"
apmatrix help import | tr '\n' ' ' | grep -q "sets each started mdev whose matrix was changed after its start back to its definition" || die "help"
echo OK
EOF
	echo "$output"
	assert_success
	assert_output --partial OK
}

@test "import --from mdevctl on a host apmatrix manages: its mdevs without a definition are carried from the live host, with a note each; diff removes none" {
	in_sim "$HOSTS/seed.yaml" <<EOF
W=\$(mktemp -d)
$ROUND_TRIP
D=/etc/mdevctl.d/matrix
U3=11111111-1111-1111-1111-111111111111
seed_two_guests
mkdir -p \$D
# one definition, not started, on a free queue
echo '{"mdev_type":"vfio_ap-passthrough","start":"manual","attrs":[{"assign_adapter":"0x06"},{"assign_domain":"0x47"}]}' > \$D/\$U3
expect_exit 0 apmatrix import --from mdevctl -o \$W/y.yaml 2>\$W/err
cat \$W/err \$W/y.yaml
for g in guest1:\$g1 guest2:\$g2; do
	grep -qxF "apmatrix: note: mdev \${g#*:} (guest '\${g%%:*}') was created by apmatrix and has no mdevctl definition: imported as it is now, as --from live does, since apply with a file without it would remove the mdev" \$W/err || die "note for \$g"
	grep -qxF "    # from the live mdev apmatrix created for guest '\${g%%:*}' (no mdevctl definition)" \$W/y.yaml || die "source comment for \$g"
done
[ "\$(grep -c 'warning: ' \$W/err)" = 1 ] || die "one warning, for the definition not started"
j=\$(apmatrix -c \$W/y.yaml check --json) || die "imported config does not check"
[ "\$(jq -c '[.guests[] | [.name, .uuid, .apqns]]' <<<"\$j")" = "[[\"\$U3\",\"\$U3\",[\"06.0047\"]],[\"guest1\",\"\$g1\",[\"05.0004\",\"05.00ab\",\"06.0004\",\"06.00ab\"]],[\"guest2\",\"\$g2\",[\"05.0047\",\"05.00ff\"]]]" ] || die "guests: \$j"
# diff creates the definition's mdev and takes its queue; it removes nothing and gives nothing back
apmatrix -c \$W/y.yaml diff > \$W/diff.out; rc=\$?
cat \$W/diff.out
[ "\$rc" = 2 ] || die "diff exited \$rc"
grep -q "^+ \$U3 .*create mdev" \$W/diff.out || die "diff does not create \$U3"
grep -E "remove mdev|give .* back" \$W/diff.out && die "diff takes from apmatrix's guests"
[ "\$(tail -1 \$W/diff.out)" = "3 changes" ] || die "diff: \$(cat \$W/diff.out)"
expect_exit 0 apmatrix -c \$W/y.yaml apply > /dev/null
for u in \$g1 \$g2 \$U3; do [ -d "\$(mdev_dir \$u)" ] || die "mdev \$u gone after apply"; done
# now every mdev is apmatrix's or defined: import, then diff and apply change nothing
round_trip --from mdevctl
# with no definitions at all, the same
rm \$D/\$U3
round_trip --from mdevctl
[ "\$(apmatrix -c \$W/imported.yaml check --json | jq -r '[.guests[].name] | join(" ")')" = "\$U3 guest1 guest2" ] || die "names after rm"
apmatrix help import | tr '\n' ' ' | tr -s ' ' | grep -q "also writes each mdev apmatrix created that no definition has, as --from live does (a note names each), so that apply does not remove it" || die "help"
echo OK
EOF
	echo "$output"
	assert_success
	assert_output --partial OK
}

@test "import --from mdevctl: a definition that assigns a queue of an mdev apmatrix created: an error naming the file, the guest, the mdev and the APQN, exit 65, nothing written" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
W=$(mktemp -d)
D=/etc/mdevctl.d/matrix
U3=11111111-1111-1111-1111-111111111111
seed_two_guests
mkdir -p $D
echo '{"mdev_type":"vfio_ap-passthrough","start":"manual","attrs":[{"assign_adapter":"0x05"},{"assign_domain":"0x47"},{"assign_domain":"0xff"}]}' > $D/$U3
expect_exit 65 apmatrix import --from mdevctl -o $W/y.yaml 2>$W/err
cat $W/err
[ ! -e $W/y.yaml ] || die "written despite the conflict"
grep -qxF "apmatrix: $D/$U3 and mdev $g2, which apmatrix created for guest 'guest2', both assign APQNs 05.0047 05.00ff: a queue can be in one mdev only; undefine or edit the definition, or import --from live" $W/err || die "error text"
[ "$(grep -c 'both assign' $W/err)" = 1 ] || die "one line per conflict"
grep -qx "apmatrix: nothing was written" $W/err || die "nothing written"
grep -E "warning|note" $W/err && die "warnings or notes about a file that is not written"
echo OK
EOF
	echo "$output"
	assert_success
	assert_output --partial OK
}

@test "import: an mdev apmatrix created that was emptied by hand is left out, and the warning says that apply removes it" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
W=$(mktemp -d)
seed_two_guests
for d in 0x47 0xff; do echo $d > $(mdev_dir $g2)/unassign_domain || die "unassign $d"; done
apmatrix import > $W/y.yaml 2>$W/err || die import
cat $W/y.yaml $W/err
grep -qxF "apmatrix: warning: mdev $g2 (guest 'guest2') has no adapters or no usage domains: not imported; apmatrix created it, so apply with this file removes it" $W/err || die warning
grep -qF "# not imported: mdev $g2 has no adapters or no usage domains, which a guest cannot declare; apmatrix created it (guest 'guest2'): apply removes it" $W/y.yaml || die comment
apmatrix -c $W/y.yaml diff > $W/diff; [ $? = 2 ] || die "diff exit"
grep -q "guest2 $g2: remove mdev" $W/diff || die "diff: $(cat $W/diff)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "import: an mdev without domains is left out (a comment), and stays untouched by diff" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
W=$(mktemp -d)
M=/sys/devices/vfio_ap/matrix
U1=11111111-1111-4111-8111-111111111111
echo $U1 > $M/mdev_supported_types/vfio_ap-passthrough/create
apmatrix import > $W/y.yaml 2>$W/err || die import
cat $W/y.yaml $W/err
grep -q "^  # not imported: mdev $U1 has no adapters or no usage domains" $W/y.yaml || die comment
grep -q "warning: mdev $U1 has no adapters or no usage domains" $W/err || die warning
grep -q '^guests: {}$' $W/y.yaml || die "empty guests"
apmatrix -c $W/y.yaml check || die check
expect_exit 0 apmatrix -c $W/y.yaml diff >/dev/null
echo OK
EOF
	echo "$output"
	assert_success
	assert_output --partial OK
}

@test "import -o: atomic write, refuses to replace without --force; bad mdevctl JSON: FILE:LINE:COL, exit 65, nothing written" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
W=$(mktemp -d)
M=/sys/devices/vfio_ap/matrix
U1=11111111-1111-4111-8111-111111111111
echo -0x05 > /sys/bus/ap/apmask
echo $U1 > $M/mdev_supported_types/vfio_ap-passthrough/create
echo 0x05 > $M/$U1/assign_adapter; echo 0x04 > $M/$U1/assign_domain
mkdir $W/out
expect_exit 0 apmatrix import -o $W/out/a.yaml
[ "$(stat -c %a $W/out/a.yaml)" = 644 ] || die mode
apmatrix -c $W/out/a.yaml check >/dev/null || die check
echo mine > $W/out/b.yaml
expect_exit 1 apmatrix import -o $W/out/b.yaml 2>$W/err
grep -q "$W/out/b.yaml exists; use --force to replace it" $W/err || die "message: $(cat $W/err)"
[ "$(cat $W/out/b.yaml)" = mine ] || die "replaced without --force"
chmod 0600 $W/out/b.yaml
expect_exit 0 apmatrix import --force -o $W/out/b.yaml
cmp $W/out/a.yaml $W/out/b.yaml || die "--force"
[ "$(stat -c %a $W/out/b.yaml)" = 600 ] || die "--force did not keep mode 0600: $(stat -c %a $W/out/b.yaml)"
[ "$(ls -A $W/out | tr '\n' ' ')" = "a.yaml b.yaml " ] || die "temporary files left: $(ls -A $W/out)"
expect_exit 1 apmatrix import -o $W/nodir/x.yaml 2>/dev/null
# a broken definition: exact place, nothing written
mkdir -p /etc/mdevctl.d/matrix
printf '{\n  "mdev_type": "vfio_ap-passthrough",\n  "start": "manual",\n  "attrs": [\n    {"assign_adapter": "0x05"},\n    {"assign_domain": "08"}\n  ]\n}\n' > /etc/mdevctl.d/matrix/$U1
expect_exit 65 apmatrix import --from mdevctl -o $W/out/c.yaml 2>$W/err
cat $W/err
grep -q "^apmatrix: /etc/mdevctl.d/matrix/$U1:6:23: mdev $U1: assign_domain '08': not a number" $W/err || die "error text"
[ ! -e $W/out/c.yaml ] || die "written despite the error"
printf '{"mdev_type": "vfio_ap-passthrough", "attrs": [{"assign_adapter": "5"},]}' > /etc/mdevctl.d/matrix/$U1
expect_exit 65 apmatrix import --from mdevctl 2>$W/err
grep -q "matrix/$U1:1:72: mdev $U1: unexpected character" $W/err || die "json error: $(cat $W/err)"
printf '{"mdev_type": "vfio_ap-passthrough", "start": "manual", "attrs": [{"assign_adapter": "5"}, {"mdev_name": "x"}]}' > /etc/mdevctl.d/matrix/$U1
expect_exit 65 apmatrix import --from mdevctl 2>$W/err
grep -q "attribute 'mdev_name' cannot be imported" $W/err || die "attr error: $(cat $W/err)"
expect_exit 64 apmatrix import --from somewhere 2>/dev/null
echo OK
EOF
	echo "$output"
	assert_success
	assert_output --partial OK
}

@test "guest --libvirt/--qemu: the hostdev element and the -device argument (mainline and rfc2017)" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
W=$(mktemp -d)
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
u=$(uuid_of guest1)
apmatrix guest guest1 --qemu 2>$W/err > $W/q || die qemu
[ "$(cat $W/q)" = "-device vfio-ap,sysfsdev=/sys/bus/mdev/devices/$u" ] || die "qemu: $(cat $W/q)"
grep -q "mdev $u does not exist yet (run apmatrix apply)" $W/err || die "no absent warning"
apmatrix apply >/dev/null || die apply
apmatrix guest guest1 --libvirt 2>$W/err > $W/l || die libvirt
[ ! -s $W/err ] || die "stderr: $(cat $W/err)"
printf "<hostdev mode='subsystem' type='mdev' model='vfio-ap'>\n  <source>\n    <address uuid='%s'/>\n  </source>\n</hostdev>\n" $u | cmp - $W/l || die "libvirt: $(cat $W/l)"
apmatrix guest guest1 | cmp - $W/l || die "default is --libvirt"
# records that cannot be read: the snippet all the same, exit 0, and the reason as a warning
cp /run/apmatrix/state $W/state && echo garbage >> /run/apmatrix/state
apmatrix guest guest1 2>$W/err | cmp - $W/l || die "snippet without records"
grep -qx "apmatrix: warning: cannot read the ownership records in /run/apmatrix/state: line [0-9]* ('garbage') is not a record this apmatrix writes" $W/err ||
	die "records: $(cat $W/err)"
cp $W/state /run/apmatrix/state
# the sysfsdev path names the mdev that apply created
[ -d "/sys/bus/mdev/devices/$u" ] || [ -d "/sys/devices/vfio_ap/matrix/$u" ] || die "no such mdev"
echo OK
EOF
	echo "$output"
	assert_success
	assert_output --partial OK
	in_sim "$HOSTS/rfc2017.yaml" <<'EOF'
W=$(mktemp -d)
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
u=$(uuid_of guest2)
[ "$(apmatrix guest guest2 --qemu 2>/dev/null)" = "-device vfio_ap_matrix,sysfsdev=/sys/devices/ap_matrix/matrix/$u" ] || die "rfc2017: $(apmatrix guest guest2 --qemu)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "guest: usage errors (two guests: one vfio-ap device per QEMU guest; unknown guest, with the near name or the list; both formats)" {
	run "$APMATRIX" -c "$EXAMPLES/seed-two-guests.yaml" --no-live guest guest1 guest2 --qemu
	assert_failure 64
	assert_output --partial "QEMU allows one vfio-ap device per guest"
	run "$APMATRIX" -c "$EXAMPLES/seed-two-guests.yaml" --no-live guest nosuch
	assert_failure 64
	assert_output "apmatrix: no guest 'nosuch' in the configuration (it declares guest1, guest2)"
	# a typo gets the name it is close to, in guest and in show
	run "$APMATRIX" -c "$EXAMPLES/seed-two-guests.yaml" --no-live guest gues1
	assert_failure 64
	assert_output "apmatrix: no guest 'gues1' in the configuration; did you mean 'guest1'?"
	run "$APMATRIX" -c "$EXAMPLES/seed-two-guests.yaml" --no-live show Guest2
	assert_failure 64
	assert_output "apmatrix: no guest 'Guest2' in the configuration; did you mean 'guest2'?"
	run "$APMATRIX" -c "$EXAMPLES/seed-two-guests.yaml" --no-live guest guest1 --libvirt --qemu
	assert_failure 64
	run "$APMATRIX" -c "$EXAMPLES/seed-two-guests.yaml" --no-live guest
	assert_failure 64
	run "$APMATRIX" -c "$EXAMPLES/seed-two-guests.yaml" --no-live guest guest2 --qemu
	assert_success
	assert_output "-device vfio-ap,sysfsdev=/sys/bus/mdev/devices/777a2a03-2a5a-5868-8709-08e19ebdd5d7"
	# --help wraps its lines; the words are what count
	"$APMATRIX" help guest | tr -s " \n" " " | grep -q "one vfio-ap device per guest"
}

@test "completion: guest names after 'guest', sources after --from, files after -o" {
	run bash -c '
		. "'"$TOP"'/completion/apmatrix.bash"
		PATH="'"$BIN"':$PATH"
		c() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=(); _apmatrix; printf "%s\n" "${COMPREPLY[@]}"; }
		echo "== guest"; c apmatrix -c "'"$EXAMPLES"'/seed-two-guests.yaml" guest ""
		echo "== from"; c apmatrix import --from ""
		echo "== after --from"; c apmatrix --from mdevctl import -o x ""
		echo "== output"; c apmatrix import -o "'"$EXAMPLES"'/seed-two"'
	echo "$output"
	assert_success
	[ "$(sed -n '/== guest/,/== from/p' <<<"$output" | sed '1d;$d')" = $'guest1\nguest2' ]
	[ "$(sed -n '/^== from/,/== after/p' <<<"$output" | sed '1d;$d')" = $'live\nmdevctl' ]
	[ "$(sed -n '/== after --from/,/== output/p' <<<"$output" | sed '1d;$d')" = "" ]
	[ "$(sed -n '/== output/,$p' <<<"$output" | sed '1d')" = "$EXAMPLES/seed-two-guests.yaml" ]
}

@test "import -o LINK --force: writes through a symbolic link (the link stays, its target gets the file); a dangling link or a loop: one line, exit 1, nothing written" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
W=$(mktemp -d)
M=/sys/devices/vfio_ap/matrix
U1=11111111-1111-4111-8111-111111111111
echo -0x05 > /sys/bus/ap/apmask
echo $U1 > $M/mdev_supported_types/vfio_ap-passthrough/create
echo 0x05 > $M/$U1/assign_adapter; echo 0x04 > $M/$U1/assign_domain
apmatrix import > $W/expected.yaml || die import
mkdir $W/repo $W/etc
echo 'version: 1' > $W/repo/apmatrix.yaml; chmod 0600 $W/repo/apmatrix.yaml
ln -s ../repo/apmatrix.yaml $W/etc/apmatrix.yaml
expect_exit 1 apmatrix import -o $W/etc/apmatrix.yaml 2>$W/err
grep -qx "apmatrix: $W/etc/apmatrix.yaml exists (a symbolic link to $W/repo/apmatrix.yaml); use --force to replace $W/repo/apmatrix.yaml" $W/err ||
	die "without --force: $(cat $W/err)"
[ "$(cat $W/repo/apmatrix.yaml)" = "version: 1" ] || die "replaced without --force"
expect_exit 0 apmatrix import -o $W/etc/apmatrix.yaml --force
[ -L $W/etc/apmatrix.yaml ] || die "the link was replaced: $(ls -l $W/etc)"
[ "$(readlink $W/etc/apmatrix.yaml)" = ../repo/apmatrix.yaml ] || die "the link changed"
cmp $W/expected.yaml $W/repo/apmatrix.yaml || die "the target does not hold the import"
[ "$(stat -c %a $W/repo/apmatrix.yaml)" = 600 ] || die "target mode not kept"
[ "$(ls -A $W/repo $W/etc | tr '\n' ' ')" = "$W/etc: apmatrix.yaml  $W/repo: apmatrix.yaml " ] || die "left over: $(ls -A $W/repo $W/etc)"
# a chain of links: the last target
ln -s apmatrix.yaml $W/etc/chain.yaml
echo old > $W/repo/apmatrix.yaml
expect_exit 0 apmatrix import -o $W/etc/chain.yaml --force
[ -L $W/etc/chain.yaml ] && [ -L $W/etc/apmatrix.yaml ] || die "chain: a link was replaced"
cmp $W/expected.yaml $W/repo/apmatrix.yaml || die "chain: the target does not hold the import"
# a dangling link: one line naming it, exit 1, nothing written
ln -s ../repo/missing.yaml $W/etc/dangling.yaml
expect_exit 1 apmatrix import -o $W/etc/dangling.yaml --force 2>$W/err
cat $W/err
[ "$(wc -l < $W/err)" = 1 ] || die "dangling: not one line"
grep -qx "apmatrix: cannot write $W/etc/dangling.yaml: it is a dangling symbolic link (to '../repo/missing.yaml', which does not exist); nothing was written" $W/err || die "dangling: $(cat $W/err)"
[ -L $W/etc/dangling.yaml ] && [ ! -e $W/repo/missing.yaml ] || die "dangling: written"
# a chain of links ending nowhere: the first link's target and the missing path at the end
ln -s dangling.yaml $W/etc/chain-dangling.yaml
expect_exit 1 apmatrix import -o $W/etc/chain-dangling.yaml --force 2>$W/err
cat $W/err
[ "$(wc -l < $W/err)" = 1 ] || die "chain-dangling: not one line"
grep -qxF "apmatrix: cannot write $W/etc/chain-dangling.yaml: it is a dangling symbolic link (to 'dangling.yaml', a chain of links ending at '$W/repo/missing.yaml', which does not exist); nothing was written" $W/err || die "chain-dangling: $(cat $W/err)"
[ -L $W/etc/chain-dangling.yaml ] && [ -L $W/etc/dangling.yaml ] && [ ! -e $W/repo/missing.yaml ] || die "chain-dangling: written"
# a loop
ln -s loop2.yaml $W/etc/loop1.yaml; ln -s loop1.yaml $W/etc/loop2.yaml
expect_exit 1 apmatrix import -o $W/etc/loop1.yaml --force 2>$W/err
cat $W/err
[ "$(wc -l < $W/err)" = 1 ] || die "loop: not one line"
grep -qx "apmatrix: cannot write $W/etc/loop1.yaml: it is a symbolic link in a loop of links (to 'loop2.yaml', which links back to '$W/etc/loop1.yaml'); nothing was written" $W/err || die "loop: $(cat $W/err)"
[ -L $W/etc/loop1.yaml ] && [ -L $W/etc/loop2.yaml ] || die "loop: a link was replaced"
[ "$(ls -A $W/repo $W/etc | tr '\n' ' ')" = "$W/etc: apmatrix.yaml chain-dangling.yaml chain.yaml dangling.yaml loop1.yaml loop2.yaml  $W/repo: apmatrix.yaml " ] || die "left over: $(ls -A $W/repo $W/etc)"
echo OK
EOF
	echo "$output"
	assert_success
	assert_output --partial OK
}

@test "import: guests are written sorted by name (bytewise), not in UUID order; comments and host.keep as before" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
W=$(mktemp -d)
M=/sys/devices/vfio_ap/matrix
T=$M/mdev_supported_types/vfio_ap-passthrough
U1=11111111-1111-4111-8111-111111111111
U2=22222222-2222-4222-8222-222222222222
U3=33333333-3333-4333-8333-333333333333
U4=44444444-4444-4444-8444-444444444444
U5=55555555-5555-4555-8555-555555555555
echo -0x05,-0x06 > /sys/bus/ap/apmask
for u in $U1 $U2 $U3 $U4 $U5; do echo $u > $T/create; done
echo 0x05 > $M/$U1/assign_adapter; echo 0x04 > $M/$U1/assign_domain
echo 0x05 > $M/$U2/assign_adapter; echo 0x47 > $M/$U2/assign_domain
echo 0x06 > $M/$U3/assign_adapter; echo 0x47 > $M/$U3/assign_domain
echo 0x06 > $M/$U4/assign_adapter; echo 0x04 > $M/$U4/assign_domain
echo 0x06 > $M/$U5/assign_adapter   # no domains: a comment, not a guest
mkdir -p /etc/libvirt/qemu
dom() { echo "<domain><name>$2</name><devices><hostdev type='mdev' model='vfio-ap'><source><address uuid='$1'/></source></hostdev></devices></domain>" > /etc/libvirt/qemu/$2.xml; }
dom $U1 zeta; dom $U2 alpha; dom $U3 Mid; dom $U4 alpha2
apmatrix import > $W/y.yaml 2>$W/err || die import
cat $W/y.yaml $W/err
[ "$(sed -n '/^guests:/,$p' $W/y.yaml | grep -o '^  [^ #][^:]*' | tr -d ' ' | tr '\n' ' ')" = "Mid alpha alpha2 zeta " ] || die "order"
[ "$(sed -n '/^guests:/{n;p}' $W/y.yaml)" = "  # not imported: mdev $U5 has no adapters or no usage domains, which a guest cannot declare" ] || die "skip comment"
grep -q "^# host.keep: host drivers hold no queue now, so there is nothing to keep$" $W/y.yaml || die "host.keep"
grep -q "^  zeta:  # libvirt domain in /etc/libvirt/qemu/zeta.xml$" $W/y.yaml || die "comment"
[ "$(grep -A1 '^  zeta:' $W/y.yaml | tail -1)" = "    uuid: $U1" ] || die "zeta's uuid"
apmatrix -c $W/y.yaml check >/dev/null || die check
expect_exit 0 apmatrix -c $W/y.yaml diff >/dev/null
echo OK
EOF
	echo "$output"
	assert_success
	assert_output --partial OK
}

@test "import --from mdevctl: a number with a leading zero (\"047\") is read as octal as the kernel does, with a warning giving both readings" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
W=$(mktemp -d)
U1=bbbbbbbb-0000-4000-8000-000000000001
D=/etc/mdevctl.d/matrix; mkdir -p $D
printf '{"mdev_type": "vfio_ap-passthrough", "start": "auto",\n "attrs": [{"assign_adapter": "5"}, {"assign_domain": "047"},\n  {"assign_domain": "07"}, {"assign_control_domain": "010"}, {"unassign_domain": "0"}]}\n' > $D/$U1
apmatrix import --from mdevctl > $W/y.yaml 2>$W/err || die "import: $(cat $W/err)"
cat $W/y.yaml $W/err
grep -qx "apmatrix: $D/$U1:2:55: warning: mdev $U1: assign_domain \"047\" has a leading zero: the kernel reads it as octal, domain 0x27 (39), not 47; imported as 0x27, as the kernel assigns it" $W/err || die "domain warning"
grep -qx "apmatrix: $D/$U1:3:54: warning: mdev $U1: assign_control_domain \"010\" has a leading zero: the kernel reads it as octal, control domain 0x08 (8), not 10; imported as 0x08, as the kernel assigns it" $W/err || die "control domain warning"
grep -q '"07"\|"0"' $W/err && die "warned where both readings agree"
[ "$(grep -c "leading zero" $W/err)" = 2 ] || die "warnings: $(cat $W/err)"
grep -qx "    domains: \[0x07, 0x27\]" $W/y.yaml || die "domains"
grep -q "0x2f" $W/y.yaml && die "read as decimal"
apmatrix -c $W/y.yaml check >/dev/null || die check
echo OK
EOF
	echo "$output"
	assert_success
	assert_output --partial OK
}

@test "import --from mdevctl: attrs mdevctl cannot load (a JSON number, two attributes in one entry, none) and no \"start\": an error each at FILE:LINE:COL naming the UUID and the attribute, exit 65, nothing written; \"attrs\": null is no attrs" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
W=$(mktemp -d)
U1=cccccccc-0000-4000-8000-000000000001
U2=cccccccc-0000-4000-8000-000000000002
U3=cccccccc-0000-4000-8000-000000000003
U4=cccccccc-0000-4000-8000-000000000004
U5=cccccccc-0000-4000-8000-000000000005
D=/etc/mdevctl.d/matrix; mkdir -p $D
printf '{"mdev_type": "vfio_ap-passthrough", "start": "auto",\n "attrs": [{"assign_adapter": 5}, {"assign_domain": "0x04"}]}\n' > $D/$U1
printf '{"mdev_type": "vfio_ap-passthrough", "start": "auto",\n "attrs": [{"assign_adapter": "6"},\n  {"assign_domain": "0x47", "assign_control_domain": "0x47"}]}\n' > $D/$U2
printf '{"mdev_type": "vfio_ap-passthrough", "start": "manual", "attrs": [{"assign_adapter": "6"}, {}]}\n' > $D/$U3
printf '{"mdev_type": "vfio_ap-passthrough", "attrs": [{"assign_adapter": "6"}, {"assign_domain": "0xab"}]}\n' > $D/$U4
printf '{"mdev_type": "vfio_ap-passthrough", "start": "manual", "attrs": null}\n' > $D/$U5
expect_exit 65 apmatrix import --from mdevctl -o $W/y.yaml 2>$W/err
cat $W/err
[ ! -e $W/y.yaml ] || die "written despite the errors"
grep -qxF "apmatrix: $D/$U1:2:31: mdev $U1: assign_adapter: the value 5 is a JSON number, not a string (\"5\"); mdevctl cannot load the definition" $W/err || die "number"
grep -qxF "apmatrix: $D/$U2:3:3: mdev $U2: an attrs entry has 2 attributes (assign_domain, assign_control_domain); mdevctl takes exactly one per entry ({\"assign_domain\": ...}, {\"assign_control_domain\": ...}): mdevctl cannot load the definition" $W/err || die "two attributes"
grep -qxF "apmatrix: $D/$U3:1:92: mdev $U3: an attrs entry has no attribute; mdevctl takes exactly one per entry: mdevctl cannot load the definition" $W/err || die "no attribute"
grep -qxF "apmatrix: $D/$U4:1:1: mdev $U4: no \"start\" (\"auto\" or \"manual\"); mdevctl cannot load the definition" $W/err || die "no start"
grep -q "$U5" $W/err && die "attrs null refused"
grep -qxF "apmatrix: note: while mdevctl cannot load a definition in $D, \"mdevctl list --defined\" fails and mdevctl starts none of the definitions there at boot (start-parent-mdevs); \"mdevctl start -u\" still starts each of the others" $W/err || die "note"
if command -v mdevctl >/dev/null; then
	# mdevctl agrees: it loads none of U1 to U4, and U5
	for u in $U1 $U2 $U3 $U4; do
		mdevctl list -d -u $u >/dev/null 2>&1 && die "mdevctl loads $u"
	done
	mdevctl list -d -u $U5 | grep -q "^$U5 matrix vfio_ap-passthrough manual" || die "mdevctl does not load $U5"
fi
# fixed as mdevctl wants them: imported
printf '{"mdev_type": "vfio_ap-passthrough", "start": "auto",\n "attrs": [{"assign_adapter": "5"}, {"assign_domain": "0x04"}]}\n' > $D/$U1
rm $D/$U2 $D/$U3 $D/$U4
expect_exit 0 apmatrix import --from mdevctl -o $W/y.yaml 2>$W/err
cat $W/y.yaml $W/err
grep -q "^  $U1:" $W/y.yaml || die "U1 not imported"
grep -q "# not imported: mdev $U5 has no adapters or no usage domains" $W/y.yaml || die "U5: $(cat $W/y.yaml)"
echo OK
EOF
	echo "$output"
	assert_success
	assert_output --partial OK
}

@test "import --from live: an mdev that also has an mdevctl definition: a warning naming the UUID, the file and how to resolve; a definition with another matrix: the live one is imported, a warning gives both" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
W=$(mktemp -d)
M=/sys/devices/vfio_ap/matrix
U1=dddddddd-0000-4000-8000-000000000001
U2=dddddddd-0000-4000-8000-000000000002
D=/etc/mdevctl.d/matrix; mkdir -p $D
echo -0x05,-0x06 > /sys/bus/ap/apmask
for u in $U1 $U2; do echo $u > $M/mdev_supported_types/vfio_ap-passthrough/create; done
echo 0x05 > $M/$U1/assign_adapter; echo 0x04 > $M/$U1/assign_domain
echo 0x06 > $M/$U2/assign_adapter; echo 0xab > $M/$U2/assign_domain
# U1's definition is what it has; U2's has another domain and starts at boot
echo '{"mdev_type": "vfio_ap-passthrough", "start": "manual", "attrs": [{"assign_adapter": "0x05"}, {"assign_domain": "0x04"}]}' > $D/$U1
echo '{"mdev_type": "vfio_ap-passthrough", "start": "auto", "attrs": [{"assign_adapter": "0x06"}, {"assign_domain": "0x47"}]}' > $D/$U2
expect_exit 0 apmatrix import -o $W/y.yaml 2>$W/err
cat $W/y.yaml $W/err
for u in $U1 $U2; do
	grep -qxF "apmatrix: warning: mdev $u also has an mdevctl definition, $D/$u: imported as it is live, so apmatrix and mdevctl would both manage it; undefine the definition (mdevctl undefine -u $u), or import --from mdevctl instead" $W/err || die "warning for $u"
done
grep -qxF "apmatrix: warning: mdev $U2: its definition $D/$U2 gives it another matrix (adapters 0x06, domains 0x47, control domains -) than it has live (adapters 0x06, domains 0xab, control domains -): the live one is imported; check refuses the guest while the definition has start: auto" $W/err || die "differ warning"
[ "$(grep -c "another matrix" $W/err)" = 1 ] || die "U1 differs?"
grep -A3 "^  $U2:" $W/y.yaml | grep -q "0xab" || die "the live matrix is not the one imported"
# as said: check refuses it until the definition goes
apmatrix -c $W/y.yaml check >$W/chk 2>&1; rc=$?
[ "$rc" = 65 ] && grep -q "guest '$U2': mdevctl definition $D/$U2 has the guest's UUID with other usage domains (definition: 0x47, configuration: 0xab)" $W/chk || die "check: $rc $(cat $W/chk)"
rm $D/$U2
apmatrix -c $W/y.yaml check >$W/chk 2>&1 || die "check without the definition: $(cat $W/chk)"
# control domains alone differ: a warning that says nothing of a refusal, and check does not refuse it
echo '{"mdev_type": "vfio_ap-passthrough", "start": "auto", "attrs": [{"assign_adapter": "0x05"}, {"assign_domain": "0x04"}, {"assign_control_domain": "0x09"}]}' > $D/$U1
expect_exit 0 apmatrix import -o $W/c.yaml 2>$W/err
grep -qF "mdev $U1: its definition $D/$U1 gives it another matrix" $W/err || die "control differ: $(cat $W/err)"
! grep -q "check refuses" $W/err || die "a refusal said: $(cat $W/err)"
apmatrix -c $W/c.yaml check >$W/chk 2>&1 || die "check refused control domains alone: $(cat $W/chk)"
echo '{"mdev_type": "vfio_ap-passthrough", "start": "manual", "attrs": [{"assign_adapter": "0x05"}, {"assign_domain": "0x04"}]}' > $D/$U1
# a definition mdevctl cannot load: said too
echo '{"mdev_type": "vfio_ap-passthrough", "start": "auto", "attrs": [{"assign_adapter": 6}, {"assign_domain": "0xab"}]}' > $D/$U2
expect_exit 0 apmatrix import -o $W/z.yaml 2>$W/err
grep -qxF "apmatrix: warning: mdev $U2: mdevctl cannot load or start its definition $D/$U2 (import --from mdevctl says why); the live mdev is imported" $W/err || die "broken: $(cat $W/err)"
rm $D/*
expect_exit 0 apmatrix import -o $W/none.yaml 2>$W/err
grep -q "mdevctl" $W/err && die "warned without definitions: $(cat $W/err)"
echo OK
EOF
	echo "$output"
	assert_success
	assert_output --partial OK
}

@test "import --from live: an mdev whose mdevctl definition file is named in upper case (or another form mdevctl reads): the warning names that file; check and --from mdevctl name it too" {
	command -v mdevctl >/dev/null || skip "mdevctl not installed"
	in_sim "$HOSTS/seed.yaml" <<'EOF'
W=$(mktemp -d)
M=/sys/devices/vfio_ap/matrix
D=/etc/mdevctl.d/matrix; mkdir -p $D
echo -0x05,-0x06 > /sys/bus/ap/apmask
UU=AAAAAAAA-1111-4111-8111-111111111111
uu=aaaaaaaa-1111-4111-8111-111111111111
for f in $UU {$UU} AAAAAAAA111141118111111111111111; do
	rm -f $D/*
	echo '{"mdev_type": "vfio_ap-passthrough", "start": "auto", "attrs": [{"assign_adapter": "5"}, {"assign_domain": "4"}]}' > "$D/$f"
	mdevctl start -u $uu || die "$f: mdevctl start"
	[ -d $M/$uu ] || die "$f: no mdev $uu: $(ls $M)"
	expect_exit 0 apmatrix import -o $W/live.yaml --force 2>$W/err
	grep -qxF "apmatrix: warning: mdev $uu also has an mdevctl definition, $D/$f: imported as it is live, so apmatrix and mdevctl would both manage it; undefine the definition (mdevctl undefine -u $uu), or import --from mdevctl instead" $W/err || die "$f: --from live: $(cat $W/err)"
	expect_exit 0 apmatrix import --from mdevctl -o $W/m.yaml --force 2>$W/err
	grep -qF "$D/$f (start: auto)" $W/m.yaml || die "$f: --from mdevctl: $(cat $W/m.yaml)"
	grep -q "^    uuid: $uu\$" $W/m.yaml || die "$f: --from mdevctl uuid: $(cat $W/m.yaml)"
	printf 'version: 1\nguests:\n  g1:\n    uuid: 22222222-2222-4222-8222-222222222222\n    adapters: [0x05]\n    domains: [0x04]\n' > $W/c.yaml
	apmatrix -c $W/c.yaml check >$W/chk 2>&1; rc=$?
	[ "$rc" = 65 ] && grep -qF "guest 'g1': APQN 05.0004 is also assigned by mdevctl definition $D/$f;" $W/chk || die "$f: check $rc: $(cat $W/chk)"
	echo 1 > $M/$uu/remove
done
echo OK
EOF
	echo "$output"
	assert_success
	assert_output --partial OK
}

@test "usage errors in an option point at the command's help: import --from bogus, guest --libvirt --qemu, wherever the command stands" {
	run "$APMATRIX" import --from bogus
	assert_failure 64
	assert_output $'apmatrix: invalid --from \'bogus\': expected live or mdevctl\nTry \'apmatrix import --help\' for more information.'
	run "$APMATRIX" --from=bogus -o /nonexistent/x.yaml import
	assert_failure 64
	assert_output --partial "Try 'apmatrix import --help' for more information."
	run "$APMATRIX" -c "$EXAMPLES/seed-two-guests.yaml" --no-live guest guest1 --libvirt --qemu
	assert_failure 64
	assert_output $'apmatrix: --libvirt and --qemu cannot be combined\nTry \'apmatrix guest --help\' for more information.'
	run "$APMATRIX" --config "$EXAMPLES/seed-two-guests.yaml" --qemu --libvirt guest guest1
	assert_failure 64
	assert_output --partial "Try 'apmatrix guest --help' for more information."
	# an option's argument is not the command; an abbreviated option as getopt_long takes it
	run "$APMATRIX" --fr bogus -o guest import
	assert_failure 64
	assert_output --partial "Try 'apmatrix import --help' for more information."
	# as the errors found after the options: the same hint
	run "$APMATRIX" import extra
	assert_failure 64
	assert_output --partial "Try 'apmatrix import --help' for more information."
	# no command, or help: apmatrix --help
	run "$APMATRIX" --from bogus
	assert_failure 64
	assert_output --partial "Try 'apmatrix --help' for more information."
	run "$APMATRIX" help import --from bogus
	assert_failure 64
	assert_output --partial "Try 'apmatrix --help' for more information."
}

@test "import -o '' (or --output=) is a usage error naming the option, not a file named '': exit 64, nothing read or written" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
W=$(mktemp -d)
cd "$W"
for args in "-o ''" "--output=" "--from mdevctl -o ''"; do
	rc=0
	out=$(eval "apmatrix import $args" 2>&1) || rc=$?
	echo "$args: $rc: $out"
	[ "$rc" = 64 ] || die "import $args exited $rc, expected 64"
	[ "$out" = "apmatrix: invalid --output '': expected a file name, or - for standard output
Try 'apmatrix import --help' for more information." ] || die "import $args: $out"
done
[ -z "$(ls -A)" ] || die "something was written: $(ls -A)"
# - is standard output
apmatrix import -o - | grep -q '^version: 1$' || die "-o - did not write standard output"
echo OK
EOF
	echo "$output"
	assert_success
	assert_output --partial OK
}

@test "import: an mdev whose recorded name and NAME-UUID8 are both taken is named by its UUID, with a warning naming both holders" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
W=$(mktemp -d)
M=/sys/devices/vfio_ap/matrix
T=$M/mdev_supported_types/vfio_ap-passthrough
cp $EXAMPLES/seed-two-guests.yaml /etc/apmatrix.yaml
apmatrix apply > /dev/null || die apply
U2=$(uuid_of guest2)
U3=ffffffff-0000-4000-8000-000000000003
U4=ffffffff-0000-4000-8000-000000000004
N2="guest2-${U2:0:8}"
# by hand: two mdevs, used by libvirt domains named 'guest2' and 'guest2-UUID8'
echo -0x06 > /sys/bus/ap/apmask
echo $U3 > $T/create; echo 6 > $M/$U3/assign_adapter; echo 0x47 > $M/$U3/assign_domain
echo $U4 > $T/create; echo 6 > $M/$U4/assign_adapter; echo 0xff > $M/$U4/assign_domain
mkdir -p /etc/libvirt/qemu
dom() { echo "<domain><name>$2</name><devices><hostdev type='mdev' model='vfio-ap'><source><address uuid='$1'/></source></hostdev></devices></domain>" > /etc/libvirt/qemu/$2.xml; }
dom $U3 guest2; dom $U4 $N2
apmatrix import > $W/y.yaml 2>$W/err || die "import exited $?"
cat $W/y.yaml $W/err
apmatrix -c $W/y.yaml check >/dev/null || die check
[ "$(apmatrix -c $W/y.yaml check --json | jq -r '[.guests[] | .name + "=" + .uuid] | sort | join(" ")')" = "$U2=$U2 guest1=$(uuid_of guest1) $N2=$U4 guest2=$U3" ] || die names
grep -qx "apmatrix: warning: mdev $U2: apmatrix recorded the name 'guest2' when it created it, but mdev $U3 is named 'guest2' and mdev $U4 '$N2': this one is named by its UUID" $W/err || die warning
grep -qx "  '$U2':  # named by its UUID: apmatrix recorded the name 'guest2' when it created the mdev; that name and '$N2' are taken" $W/y.yaml || die comment
echo OK
EOF
	echo "$output"
	assert_success
	assert_output --partial OK
}

@test "import --from mdevctl: a start other than \"auto\" is manual, as mdevctl lists it: said so in the comment, and the guest is not taken as started at boot" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
D=/etc/mdevctl.d/matrix; mkdir -p $D
U=aaaaaaaa-0000-4000-8000-000000000009
echo '{"mdev_type": "vfio_ap-passthrough", "start": "bogus", "attrs": [{"assign_adapter": "5"}, {"assign_domain": "0x47"}]}' > $D/$U
if command -v mdevctl >/dev/null; then
	mdevctl list -d | grep -q "^$U matrix vfio_ap-passthrough manual" || die "mdevctl: $(mdevctl list -d)"
fi
apmatrix import --from mdevctl -o $T/y.yaml 2>$T/err || die "import: $(cat $T/err)"
grep -qF "# from $D/$U (start: manual)" $T/y.yaml || die "comment: $(cat $T/y.yaml)"
! grep -q "start: bogus" $T/y.yaml || die "bogus: $(cat $T/y.yaml)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "import --from mdevctl: a definition of 3 MB (120000 attrs entries, on one line or one a line) is read whole, in bounded memory, with the FILE:LINE:COL of a warning at its end" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
D=/etc/mdevctl.d/matrix; mkdir -p $D
U=aaaaaaaa-0000-4000-8000-000000000009
# not under valgrind or ASan, which need more address space of their own
if [ "${APMATRIX_VALGRIND:-0}" != 1 ] && [ -z "${ASAN_OPTIONS:-}" ]; then ulimit -v 1000000; fi
for sep in '' '\n'; do
	{
		printf '{"mdev_type":"vfio_ap-passthrough","start":"auto","attrs":[{"assign_adapter":"5"},{"assign_domain":"4"},'
		yes '{"assign_domain":"0x47"},{"unassign_domain":"0x47"},' | head -n 60000 | tr -d '\n' | sed "s/},{\"assign/},$sep{\"assign/g"
		printf "$sep"'{"assign_domain":"0xab"},{"assign_control_domain":"010"}]}'
	} > $D/$U
	[ "$(stat -c %s $D/$U)" -gt 3000000 ] || die "size: $(stat -c %s $D/$U)"
	if [ -z "$sep" ]; then where="1:$(( $(stat -c %s $D/$U) - 7 ))"; else where="60001:51"; fi
	rm -f $T/y.yaml
	apmatrix import --from mdevctl -o $T/y.yaml 2>$T/err || die "import exited $?: $(head -c 500 $T/err)"
	grep -qF "$D/$U:$where: warning: mdev $U: assign_control_domain \"010\" has a leading zero" $T/err ||
		die "warning ($where): $(head -c 500 $T/err)"
	grep -qx '    adapters: \[0x05\]' $T/y.yaml || die "adapters: $(cat $T/y.yaml)"
	grep -qx '    domains: \[0x04, 0xab\]' $T/y.yaml || die "domains: $(cat $T/y.yaml)"
	grep -qx '    control-domains: \[0x08\]' $T/y.yaml || die "control domains: $(cat $T/y.yaml)"
done
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "import --from mdevctl: JSON as mdevctl (serde_json) reads it: numbers by RFC 8259 and within a double, the file all UTF-8, an error at FILE:LINE:COL, exit 65; \"\\u0000\" is a NUL in a string" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
D=/etc/mdevctl.d/matrix; mkdir -p $D
U=aaaaaaaa-0000-4000-8000-000000000009
A='"attrs":[{"assign_adapter":"5"},{"assign_domain":"4"}]'
row() { # want-exit expected-message definition (printf format); MLOADS=1: mdevctl loads it all the same
	rm -f $D/*
	printf "$3" > $D/$U
	if command -v mdevctl >/dev/null; then
		if [ "$1" = 65 ] && [ -z "${MLOADS:-}" ]; then ! mdevctl list -d >/dev/null 2>&1 || die "mdevctl loads: $3"
		else mdevctl list -d >/dev/null || die "mdevctl does not load: $3"; fi
	fi
	apmatrix import --from mdevctl -o $T/y.yaml 2>$T/err; rc=$?
	[ "$rc" = "$1" ] || die "exit $rc, not $1: $3: $(cat $T/err)"
	grep -qF -- "$2" $T/err || die "message for $3: $(cat $T/err)"
	rm -f $T/y.yaml
}
H='{"mdev_type":"vfio_ap-passthrough","start":"auto",'
row 65 "$D/$U:1:56: mdev $U: expected ',' or '}'" "$H"'"x":1-2,'"$A"'}'
row 65 "$D/$U:1:57: mdev $U: bad number: no digit after the decimal point" "$H"'"x":1.,'"$A"'}'
row 65 "$D/$U:1:57: mdev $U: bad number: no digit in the exponent" "$H"'"x":1e,'"$A"'}'
row 65 "$D/$U:1:58: mdev $U: bad number: no digit in the exponent" "$H"'"x":1E-,'"$A"'}'
row 65 "$D/$U:1:58: mdev $U: expected ',' or '}'" "$H"'"x":1.5.5,'"$A"'}'
row 65 "$D/$U:1:55: mdev $U: number out of range" "$H"'"x":-1e400,'"$A"'}'
row 0 "not started" "$H"'"x":[-0, 0.5e-3, 1E+2, 1e-400, 123456789012345678901234567890],'"$A"'}'
row 65 "$D/$U:1:59: mdev $U: invalid UTF-8 at byte 0xE9; mdevctl reads a definition as UTF-8 text" "$H"'"x":"caf\xe9",'"$A"'}'
row 65 "$D/$U:2:2: mdev $U: invalid UTF-8 at byte 0xED" "$H"'"x":\n"\xed\xa0\x80",'"$A"'}'
row 65 "$D/$U:1:53: mdev $U: invalid UTF-8 at byte 0xC0" "$H"'"x\xc0\x80":1,'"$A"'}'
row 65 "$D/$U:1:106: mdev $U: invalid UTF-8 at byte 0xE2" "$H$A"'}\xe2\x82'
row 0 "not started" "$H"'"x":"caf\xc3\xa9 \xf0\x9f\x98\x80",'"$A"'}'
row 0 "not started" "$H"'"x":"a\\u0000b","a\\u0000c":1,"a\\u0000d":2,'"$A"'}'
! grep -q "duplicate key" $T/err || die "keys that differ after a NUL taken as one: $(cat $T/err)"
MLOADS=1 row 65 "mdev $U: attribute 'assign_adapter\\u0000' cannot be imported" "$H"'"attrs":[{"assign_adapter\\u0000":"5"},{"assign_domain":"4"}]}'
row 0 "mdev type 'vfio_ap-passthrough\\u0000' is not vfio_ap; skipped" '{"mdev_type":"vfio_ap-passthrough\\u0000","start":"auto",'"$A"'}'
# 127 arrays and objects one in another (the definition's object and 126 arrays) load; 128 do not
nest() { printf '%.0s[' $(seq $1); printf 0; printf '%.0s]' $(seq $1); }
row 0 "not started" "$H"'"x":'"$(nest 126)"','"$A"'}'
row 65 "$D/$U:1:181: mdev $U: nested too deeply: more than 127 arrays and objects" "$H"'"x":'"$(nest 127)"','"$A"'}'
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "import --from mdevctl: a definition whose object has 100000 keys: each key given twice is warned about, at FILE:LINE:COL with the first's, and the last value kept" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
D=/etc/mdevctl.d/matrix; mkdir -p $D
U=aaaaaaaa-0000-4000-8000-000000000009
{
	printf '{"mdev_type":"vfio_ap-passthrough","start":"manual","attrs":[{"assign_adapter":"5"},{"assign_domain":"4"}],\n'
	seq -f '"k%06g":1,' 0 99999
	printf '"k000000":2,"k050000":2,"k099999":2,"start":"auto"}'
} > $D/$U
apmatrix import --from mdevctl -o $T/y.yaml 2>$T/err || die "import exited $?: $(head -c 500 $T/err)"
[ "$(grep -c 'duplicate key' $T/err)" = 4 ] || die "warnings: $(grep 'duplicate key' $T/err | head)"
for w in '100002:1: warning: mdev '$U': duplicate key "k000000" (first at 2:1)' \
	'100002:13: warning: mdev '$U': duplicate key "k050000" (first at 50002:1)' \
	'100002:25: warning: mdev '$U': duplicate key "k099999" (first at 100001:1)' \
	'100002:37: warning: mdev '$U': duplicate key "start" (first at 1:36)'; do
	grep -qF "$D/$U:$w" $T/err || die "no '$w': $(grep 'duplicate key' $T/err)"
done
grep -qF "# from $D/$U (start: auto)" $T/y.yaml || die "start: $(grep 'from ' $T/y.yaml)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "import --from mdevctl: ap_config on a kernel before 6.10 (no such mdev attribute): a warning at FILE:LINE:COL naming the UUID and the kernel interface, that mdevctl's start fails; the masks are imported; a note while no mdev tells; nothing said on 6.12" {
	t=$(seed_topo 6.0)
	in_sim "$t" <<'EOF'
D=/etc/mdevctl.d/matrix; mkdir -p $D
U=aaaaaaaa-0000-4000-8000-000000000001
F=bbbbbbbb-0000-4000-8000-000000000001
CFG=0x0400000000000000000000000000000000000000000000000000000000000000,0x0000000000000000010000000000000000000000000000000000000000000000,0x0
echo "{\"mdev_type\": \"vfio_ap-passthrough\", \"start\": \"auto\", \"attrs\": [{\"ap_config\": \"$CFG\"}]}" > $D/$U
# no mdev yet: 6.0 looks like 5.15, so it cannot be told
apmatrix import --from mdevctl >$T/y.yaml 2>$T/err || die "import: $(cat $T/err)"
grep -qxF "apmatrix: $D/$U:1:65: note: mdev $U: ap_config: mdevs have it from kernel 6.10 on, and no mdev tells yet whether this host's has it; if not, mdevctl's start of this definition fails (\"Invalid attribute 'ap_config'\"); its masks are imported" $T/err || die "note: $(cat $T/err)"
# an mdev (not apmatrix's) tells the dynamic interface without ap_config
echo $F > /sys/devices/vfio_ap/matrix/mdev_supported_types/vfio_ap-passthrough/create || die create
apmatrix import --from mdevctl >$T/y.yaml 2>$T/err || die "import: $(cat $T/err)"
cat $T/err
grep -qxF "apmatrix: $D/$U:1:65: warning: mdev $U: ap_config: this host's kernel (dynamic kernel interface, before 6.10) has no ap_config attribute, so mdevctl's start of this definition fails (\"Invalid attribute 'ap_config'\"); its masks are imported" $T/err || die "warning: $(cat $T/err)"
grep -q "^    adapters: \[0x05\]$" $T/y.yaml && grep -q "^    domains: \[0x47\]$" $T/y.yaml || die "matrix: $(cat $T/y.yaml)"
# the real mdevctl agrees: its start fails and leaves no mdev
if command -v mdevctl >/dev/null; then
	echo -0x05 > /sys/bus/ap/apmask
	mdevctl start -u $U >$T/out 2>&1 && die "mdevctl started it"
	grep -q "Invalid attribute 'ap_config'" $T/out || die "mdevctl: $(cat $T/out)"
	[ ! -e /sys/bus/mdev/devices/$U ] || die "mdevctl left the mdev"
fi
echo OK
EOF
	echo "$output"
	assert_success
	assert_output --partial OK
	t=$(seed_topo 6.12)
	in_sim "$t" <<'EOF'
D=/etc/mdevctl.d/matrix; mkdir -p $D
U=aaaaaaaa-0000-4000-8000-000000000001
CFG=0x0400000000000000000000000000000000000000000000000000000000000000,0x0000000000000000010000000000000000000000000000000000000000000000,0x0
echo "{\"mdev_type\": \"vfio_ap-passthrough\", \"start\": \"auto\", \"attrs\": [{\"ap_config\": \"$CFG\"}]}" > $D/$U
apmatrix import --from mdevctl >$T/y.yaml 2>$T/err || die "import: $(cat $T/err)"
! grep -q "ap_config" $T/err || die "said on 6.12: $(cat $T/err)"
echo OK
EOF
	echo "$output"
	assert_success
	assert_output --partial OK
}

@test "import --from mdevctl: a definition that assigns beyond the host's maxima: a warning naming the file, the UUID, each number and its maximum, that check refuses the guest; not the warning that apply creates its mdev" {
	t=$BATS_TEST_TMPDIR/max.yaml
	cat >"$t" <<'EOT'
kernel: 6.12
vfio_ap: loaded
max_adapter: 0x3f
max_domain: 0xfd
cards:
  - {id: 0x05, type: CEX5C, mode: cca,   domains: [0x04, 0x47, 0xab]}
  - {id: 0x06, type: CEX5A, mode: accel, domains: [0x04, 0x47, 0xab]}
EOT
	in_sim "$t" <<'EOF'
D=/etc/mdevctl.d/matrix; mkdir -p $D
U1=aaaaaaaa-0000-4000-8000-000000000001
U2=aaaaaaaa-0000-4000-8000-000000000002
U3=aaaaaaaa-0000-4000-8000-000000000003
echo '{"mdev_type": "vfio_ap-passthrough", "start": "manual", "attrs": [{"assign_adapter": "5"}, {"assign_adapter": "0x40"}, {"assign_domain": "0x47"}]}' > $D/$U1
echo '{"mdev_type": "vfio_ap-passthrough", "start": "auto", "attrs": [{"assign_adapter": "6"}, {"assign_domain": "0x04"}, {"assign_domain": "0xfe"}, {"assign_domain": "0xff"}, {"assign_control_domain": "0xfe"}]}' > $D/$U2
echo '{"mdev_type": "vfio_ap-passthrough", "start": "manual", "attrs": [{"assign_adapter": "6"}, {"assign_domain": "0xab"}]}' > $D/$U3
# assigned and unassigned again: mdevctl's start fails at the assignment, the
# matrix it ends with is imported
U4=aaaaaaaa-0000-4000-8000-000000000004
echo '{"mdev_type": "vfio_ap-passthrough", "start": "manual", "attrs": [{"assign_adapter": "0x40"}, {"unassign_adapter": "0x40"}, {"assign_adapter": "5"}, {"assign_domain": "0xab"}]}' > $D/$U4
apmatrix import --from mdevctl -o $T/y.yaml 2>$T/err || die "import: $(cat $T/err)"
cat $T/err
grep -qxF "apmatrix: warning: $D/$U4: mdev $U4 assigns adapter 0x40 (this host's maximum 0x3f), unassigned again by a later attribute: the kernel refuses the assignment, so mdevctl's start of the definition fails on this host; the guest is imported with the matrix the definition ends with, whose mdev apply creates; remove those attributes from the definition" $T/err ||
	die "U4"
if command -v mdevctl >/dev/null; then ! mdevctl start -u $U4 >/dev/null 2>&1 || die "mdevctl started U4"; fi
tail="the kernel refuses it, so mdevctl's start of the definition fails on this host, and check refuses the guest as imported (diff and apply leave it out: no mdev is created); edit the definition, or import it on the host it is meant for"
grep -qxF "apmatrix: warning: $D/$U1: mdev $U1 assigns adapter 0x40 (this host's maximum 0x3f): $tail" $T/err || die "U1"
grep -qxF "apmatrix: warning: $D/$U2: mdev $U2 assigns domains 0xfe,0xff (this host's maximum 0xfd) and control domain 0xfe (this host's maximum 0xfd): $tail" $T/err || die "U2"
grep -q "$U1) so that\|$U2) so that" $T/err && die "apply said to create their mdevs"
grep -qF "$D/$U3: the definition is not started, so apply will create the mdev" $T/err || die "U3"
# and so it is: check refuses those two guests, apply creates U3's mdev alone
expect_exit 65 apmatrix -c $T/y.yaml check 2>$T/err
grep -q "guest '$U1': adapters 0x40 beyond this host's maximum 0x3f" $T/err || die "check U1: $(cat $T/err)"
grep -q "guest '$U2': .*beyond this host's maximum 0xfd" $T/err || die "check U2: $(cat $T/err)"
apmatrix -c $T/y.yaml apply >$T/out 2>&1
[ -e /sys/bus/mdev/devices/$U3 ] && [ ! -e /sys/bus/mdev/devices/$U1 ] && [ ! -e /sys/bus/mdev/devices/$U2 ] || die "apply: $(cat $T/out)"
[ "$(cat /sys/bus/mdev/devices/$U4/matrix)" = 05.00ab ] || die "U4: $(cat $T/out)"
echo OK
EOF
	echo "$output"
	assert_success
	assert_output --partial OK
}

@test "import --from live: an mdev that several files define (its UUID in other forms): the warning names every file, each definition's own matrix is compared; more than four: 'and N more'" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
M=/sys/devices/vfio_ap/matrix
D=/etc/mdevctl.d/matrix; mkdir -p $D
u=dddddddd-0000-4000-8000-000000000001
UU=DDDDDDDD-0000-4000-8000-000000000001
echo -0x05 > /sys/bus/ap/apmask
echo $u > $M/mdev_supported_types/vfio_ap-passthrough/create
echo 0x05 > $M/$u/assign_adapter; echo 0x04 > $M/$u/assign_domain
echo '{"mdev_type": "vfio_ap-passthrough", "start": "manual", "attrs": [{"assign_adapter": "0x05"}, {"assign_domain": "0x04"}]}' > $D/$u
echo '{"mdev_type": "vfio_ap-passthrough", "start": "manual", "attrs": [{"assign_adapter": "0x05"}, {"assign_domain": "0x47"}]}' > $D/$UU
apmatrix import -o $T/y.yaml 2>$T/err || die "import: $(cat $T/err)"
cat $T/err
grep -qxF "apmatrix: warning: mdev $u also has 2 mdevctl definitions, $D/$UU and $D/$u: imported as it is live, so apmatrix and mdevctl would both manage it; undefine the definitions (mdevctl undefine -u $u, and remove the other files), or import --from mdevctl instead" $T/err || die "both files"
grep -qF "mdev $u: its definition $D/$UU gives it another matrix (adapters 0x05, domains 0x47," $T/err || die "the upper-case file's matrix"
[ "$(grep -c "another matrix" $T/err)" = 1 ] || die "the lower-case one differs?"
for f in dddddddd000040008000000000000001 DDDDDDDD000040008000000000000001 "{$u}" "urn:uuid:$u"; do
	cp $D/$u "$D/$f"
done
apmatrix import -o $T/z.yaml 2>$T/err || die "import: $(cat $T/err)"
grep -qxF "apmatrix: warning: mdev $u also has 6 mdevctl definitions, $D/DDDDDDDD-0000-4000-8000-000000000001, $D/DDDDDDDD000040008000000000000001, $D/dddddddd-0000-4000-8000-000000000001, $D/dddddddd000040008000000000000001 and 2 more: imported as it is live, so apmatrix and mdevctl would both manage it; undefine the definitions (mdevctl undefine -u $u, and remove the other files), or import --from mdevctl instead" $T/err || die "six files: $(cat $T/err)"
echo OK
EOF
	echo "$output"
	assert_success
	assert_output --partial OK
}
