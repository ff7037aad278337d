#!/usr/bin/env bats
# Hostile configurations (issue 6): huge files, many guests, deep nesting,
# alias bombs, NUL bytes, invalid UTF-8, long keys, path characters in
# UUIDs and names, odd numbers, symlinks, FIFOs and devices.  Each run is
# bounded (256 MiB of address space unless the binary is built with ASan,
# and a 20 s kill timer), must fail with exit 65 and a short, positioned
# error, and must not write anything to the simulated sysfs.  The limits
# are those of apmatrix.yaml(5), LIMITS.

load helpers

setup() {
	need_root
}

# hostile [MAXLINES]: run the script on stdin on the seed host, with
# refuse() defined: refuse REGEX [OPTIONS...] runs `check --no-live` and
# `apply` on the configuration the script set up and requires exit 65, the
# first error line to match REGEX, at most MAXLINES (default 1) lines from
# check, "nothing was changed" from apply, and no write.
hostile() {
	local max=${1:-1} body
	body=$(cat)
	in_sim "$HOSTS/seed.yaml" <<EOT
MAXLINES=$max
$(cat "$BATS_TEST_DIRNAME/hostile-lib.bash")
$body
echo OK
EOT
	echo "$output"
	assert_success
	assert_output --partial OK
}

@test "hostile: a 2 MiB file is refused before parsing (1 MiB limit)" {
	hostile <<'EOF'
{ echo "version: 1"; yes "# padding padding padding padding padding padding padding" | head -c 2097152; } >/etc/apmatrix.yaml
refuse '^apmatrix: /etc/apmatrix.yaml: larger than 1048576 bytes \(1 MiB\), the limit for one file$'
EOF
}

@test "hostile: 100k guests in one file (4 MB) hit the size limit" {
	hostile <<'EOF'
awk 'BEGIN { print "version: 1"; print "guests:"; for (i = 0; i < 100000; i++) printf "  g%d: {adapters: [0x05], domains: [0x04]}\n", i }' >/etc/apmatrix.yaml
refuse 'larger than 1048576 bytes'
EOF
}

@test "hostile: 100k guests spread over 50 drop-ins: one error at the 16385th, nothing more" {
	hostile <<'EOF'
echo "version: 1" >/etc/apmatrix.yaml
mkdir -p /etc/apmatrix.d
awk 'BEGIN {
	for (f = 0; f < 50; f++) {
		file = sprintf("/etc/apmatrix.d/%02d.yaml", f)
		print "guests:" > file
		for (i = f * 2000; i < (f + 1) * 2000; i++)
			printf "  g%d: {adapters: [%d], domains: [%d]}\n", i, int(i / 256) % 256, i % 256 > file
		close(file)
	}
}'
refuse "^apmatrix: /etc/apmatrix.d/08.yaml:386:3: guest 'g16384': more than 16384 guests; the limit is 16384$"
EOF
}

@test "hostile: 4096 guests that all claim one queue: every pair checked, 10 conflicts listed per guest" {
	hostile 45100 <<'EOF'
awk 'BEGIN { print "version: 1"; print "guests:"; for (i = 0; i < 4096; i++) printf "  g%d: {adapters: [0x05], domains: [0x04]}\n", i }' >/etc/apmatrix.yaml
refuse "^apmatrix: /etc/apmatrix.yaml:4:"
n=$(apmatrix --no-live check 2>&1 | wc -l)
# 1+2+...+10 for the first guests, then 10 listed + 1 count line each
[ "$n" = $((55 + (4095 - 10) * 11)) ] || die "$n lines"
apmatrix --no-live check 2>&1 | grep -q "guest 'g4095': conflicts with 4085 more earlier guests (not listed)" || die "no count line"
EOF
}

@test "hostile: 10000-deep nesting stops at 16 levels" {
	hostile 2 <<'EOF'
{ printf 'version: 1\nguests: '; head -c 10000 /dev/zero | tr '\0' '['; } >/etc/apmatrix.yaml
refuse "^apmatrix: /etc/apmatrix.yaml:2:9: guests: expected a mapping, got a sequence$"
apmatrix --no-live check 2>&1 | grep -x "apmatrix: /etc/apmatrix.yaml:2:2[0-9]: nested deeper than 16 levels; an apmatrix configuration needs 4" || die "no nesting error"
{ printf 'version: 1\nguests:\n  g1: '; for i in $(seq 10000); do printf '{a: '; done; } >/etc/apmatrix.yaml
refuse "^apmatrix: /etc/apmatrix.yaml:3:[0-9]+: guest 'g1': unknown key 'a'"
apmatrix --no-live check 2>&1 | grep "nested deeper than 16 levels" || die "no nesting error (mappings)"
EOF
}

@test "hostile: a billion-laughs alias bomb is refused without expanding it" {
	hostile 102 <<'EOF'
cat >/etc/apmatrix.yaml <<'EOC'
version: 1
guests:
  g1:
    adapters: &a [0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01]
    domains: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
    control-domains: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
  g2: {adapters: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c], domains: [*d, *d, *d, *d, *d, *d, *d, *d, *d]}
EOC
refuse "^apmatrix: /etc/apmatrix.yaml:4:15: guest 'g1': anchors are not supported \(anchor 'a'\)$"
apmatrix --no-live check 2>&1 | grep -q "aliases are not supported (alias 'a')" || die "aliases not reported"
EOF
}

@test "hostile: a NUL byte and invalid UTF-8 are refused at their position" {
	hostile <<'EOF'
printf 'version: 1\nguests:\n  g1\0: {adapters: [1], domains: [1]}\n' >/etc/apmatrix.yaml
refuse '^apmatrix: /etc/apmatrix.yaml:3:5: control characters are not allowed \(0x00\); a configuration file is UTF-8 text$'
printf 'version: 1\nguests:\n  g\xff1: {adapters: [1], domains: [1]}\n' >/etc/apmatrix.yaml
refuse '^apmatrix: /etc/apmatrix.yaml:3:4: invalid UTF-8 at byte 0xFF; a configuration file is UTF-8 text \(if it is Latin-1: iconv -f latin1 -t utf8\)$'
printf 'version: 1\nguests:\n  "g\\0x": {adapters: [1], domains: [1]}\n' >/etc/apmatrix.yaml
refuse '^apmatrix: /etc/apmatrix.yaml:3:3: NUL character inside a scalar$'
EOF
}

@test "hostile: very long keys, values and guest names" {
	hostile <<'EOF'
{ printf 'version: 1\nguests:\n  ? '; head -c 100000 /dev/zero | tr '\0' g; printf '\n  : {adapters: [1], domains: [1]}\n'; } >/etc/apmatrix.yaml
refuse "^apmatrix: /etc/apmatrix.yaml:3:5: guest '$(head -c 64 /dev/zero | tr '\0' g)\\.\\.\\.': a key or value of 100000 bytes; the limit is 256\$"
{ printf 'version: 1\nguests:\n  g1: {adapters: [1], domains: [1], uuid: "'; head -c 300000 /dev/zero | tr '\0' 0; printf '"}\n'; } >/etc/apmatrix.yaml
MAXLINES=2 # and the UUID's first 64 bytes are no UUID
refuse "^apmatrix: /etc/apmatrix.yaml:3:43: guest 'g1': a key or value of 300000 bytes; the limit is 256\$"
MAXLINES=1
name=$(head -c 200 /dev/zero | tr '\0' n)
printf 'version: 1\nguests:\n  %s: {adapters: [1], domains: [1]}\n' "$name" >/etc/apmatrix.yaml
refuse "^apmatrix: /etc/apmatrix.yaml:3:3: guest '$name': invalid name"
EOF
}

@test "hostile: a 5000-byte simple key: the length, then libyaml's syntax error" {
	hostile 3 <<'EOF'
{ printf 'version: 1\nguests:\n  '; head -c 5000 /dev/zero | tr '\0' g; printf ': {adapters: [1], domains: [1]}\n'; } >/etc/apmatrix.yaml
refuse '^apmatrix: /etc/apmatrix.yaml:3:3: guests: a key or value of 5000 bytes; the limit is 256$'
apmatrix --no-live check 2>&1 | grep -q "YAML syntax error" || die "no syntax error"
EOF
}

@test "hostile: UUIDs and guest names with path characters never reach a path" {
	hostile <<'EOF'
for u in '../../../bus/ap/apmask' '../../../../../../../../devices/ap/x' '4b0f7c1e-8d5e-4b1a-9d36-0c1f6a1e/../' 'a/b'; do
	printf 'version: 1\nguests:\n  g1:\n    uuid: "%s"\n    adapters: [0x05]\n    domains: [0x04]\n' "$u" >/etc/apmatrix.yaml
	refuse "^apmatrix: /etc/apmatrix.yaml:4:11: guest 'g1': invalid UUID '${u//./\\.}'"
done
for n in '../x' 'a/b' '..' '/etc'; do
	printf 'version: 1\nguests:\n  "%s": {adapters: [0x05], domains: [0x04]}\n' "$n" >/etc/apmatrix.yaml
	refuse "^apmatrix: /etc/apmatrix.yaml:3:3: guest '${n//./\\.}': invalid name"
done
EOF
}

@test "hostile: numbers 0x, 99999999999999999999, 0x and 200 hex digits" {
	hostile <<'EOF'
for v in 0x 99999999999999999999 "0x$(head -c 200 /dev/zero | tr '\0' f)" -0 0x-1 1e3; do
	printf 'version: 1\nguests:\n  g1: {adapters: [%s], domains: [1]}\n' "$v" >/etc/apmatrix.yaml
	refuse "^apmatrix: /etc/apmatrix.yaml:3:19: guest 'g1': adapter "
done
EOF
}

@test "hostile: symlinked configuration: followed to a trusted file, refused to a device, loops and dangling links fail" {
	hostile <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/real.yaml
ln -sf real.yaml /etc/apmatrix.yaml
apmatrix check >/dev/null || die "a symlink to a trusted file is fine"
ln -sfn /dev/zero /etc/apmatrix.yaml
refuse '^apmatrix: /etc/apmatrix.yaml: refused: is a character device, not a regular file \(use -c - to read standard input\)$'
rm /etc/apmatrix.yaml; ln -s apmatrix.yaml /etc/apmatrix.yaml
refuse "^apmatrix: /etc/apmatrix.yaml: cannot read: it is a symbolic link in a loop of links \\(to 'apmatrix.yaml', which is this link itself\\)$"
rm /etc/apmatrix.yaml; ln -s /nonexistent.yaml /etc/apmatrix.yaml
refuse "^apmatrix: /etc/apmatrix.yaml: cannot read: it is a dangling symbolic link \\(to '/nonexistent.yaml', which does not exist\\)$"
EOF
}

@test "hostile: a FIFO, /dev/zero, a directory and stdin from /dev/zero" {
	hostile <<'EOF'
mkfifo /etc/apmatrix.yaml
refuse '^apmatrix: /etc/apmatrix.yaml: refused: is a FIFO, not a regular file'
rm /etc/apmatrix.yaml
refuse '^apmatrix: /dev/zero: refused: is a character device' -c /dev/zero
mkdir $W/d.yaml
refuse "^apmatrix: $W/d.yaml: refused: is a directory, not a regular file" -c $W/d.yaml
clear_writes
bounded apmatrix -c - apply </dev/zero 2>$W/err; rc=$?
[ "$rc" = 65 ] || die "stdin from /dev/zero: exit $rc"
grep -qx 'apmatrix: <stdin>: larger than 1048576 bytes (1 MiB), the limit for one file' $W/err || die "$(cat $W/err)"
[ "$(nwrites)" = 0 ] || die "wrote"
apmatrix -c - check <"$EXAMPLES/seed-two-guests.yaml" >/dev/null || die "-c - from a file"
cat "$EXAMPLES/seed-two-guests.yaml" | apmatrix -c - check >/dev/null || die "-c - from a pipe"
EOF
}

@test "hostile: drop-ins: a FIFO named *.yaml, and more than 256 files" {
	hostile <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
mkdir -p /etc/apmatrix.d
mkfifo /etc/apmatrix.d/10-fifo.yaml
refuse '^apmatrix: /etc/apmatrix.d/10-fifo.yaml: refused: is a FIFO, not a regular file'
rm /etc/apmatrix.d/10-fifo.yaml
for i in $(seq 1 257); do echo "# $i" >/etc/apmatrix.d/$i.yaml; done
refuse '^apmatrix: /etc/apmatrix.d: drop-in directory with more than 256 \*.yaml files; the limit is 256$'
EOF
}

@test "hostile: lists: 300 entries in one list, 66,049 entries in all" {
	hostile 400 <<'EOF'
awk 'BEGIN { print "version: 1"; print "guests:"; printf "  g1: {domains: [1], adapters: ["; for (i = 0; i < 300; i++) printf "%d, ", i % 256; print "0]}" }' >/etc/apmatrix.yaml
refuse "^apmatrix: /etc/apmatrix.yaml:3:"
apmatrix --no-live check 2>&1 | grep -qx "apmatrix: /etc/apmatrix.yaml:3:1[0-9][0-9][0-9]: guest 'g1': adapters has more than 256 entries; there are only 256 adapters, give ranges such as \"0x00-0xff\"" || die "no list error"
MAXLINES=1
awk 'BEGIN { print "version: 1"; print "guests:"; for (g = 0; g < 257; g++) { printf "  g%d: {domains: [%d], adapters: [", g, g % 256; for (i = 0; i < 255; i++) printf "%d, ", i; print "255]}" } }' >/etc/apmatrix.yaml
refuse "^apmatrix: /etc/apmatrix.yaml:258:[0-9]+: guest 'g255': more than 65536 list entries in the configuration; the limit is 65536$"
EOF
}
