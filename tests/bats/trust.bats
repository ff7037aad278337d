#!/usr/bin/env bats
# Trust (issue 6): a configuration file, the drop-in directory and its files,
# and every directory above them must be owned by root (or, for a non-root
# run, by the user running apmatrix) and writable by nobody else; a sticky
# directory such as /tmp may be world-writable on the way.  Refusals name the
# reason and the fix, exit 65, and nothing is written.  Also: no shell-outs
# in src/, and sysfs paths cannot leave the sysfs root.

load helpers

setup() {
	need_root
	T=$(mktemp -d /tmp/apmatrix-trust.XXXXXX)
	chmod 755 "$T"
	cp "$EXAMPLES/seed-two-guests.yaml" "$T/apmatrix.yaml"
	chmod 644 "$T/apmatrix.yaml"
}

teardown() {
	rm -rf "$T"
}

as_nobody() {
	setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"
}

@test "trust: every run here off the simulator does not depend on the machine's /sys (--no-live or an empty sysfs root)" {
	off=$(grep -n '"\$APMATRIX"' "$BATS_TEST_FILENAME" | grep -v -e '--no-live' -e 'APMATRIX_SYSFS_ROOT=' || true)
	[ -z "$off" ] || { echo "reads the machine's /sys: $off"; false; }
}

@test "trust: a root-owned 0644 file in root-owned 0755 directories is read" {
	run "$APMATRIX" -c "$T/apmatrix.yaml" --no-live check
	assert_success
	assert_output --partial "ok: 2 guests"
}

@test "trust: group- or world-writable files are refused with the chmod fix; apply writes nothing" {
	chmod 664 "$T/apmatrix.yaml"
	run "$APMATRIX" -c "$T/apmatrix.yaml" --no-live check
	[ "$status" -eq 65 ]
	assert_output "apmatrix: $T/apmatrix.yaml: refused: writable by group 'root' (mode 0664); fix: chmod go-w $T/apmatrix.yaml"
	chmod 646 "$T/apmatrix.yaml"
	run "$APMATRIX" -c "$T/apmatrix.yaml" --no-live check
	[ "$status" -eq 65 ]
	assert_output "apmatrix: $T/apmatrix.yaml: refused: writable by everyone (mode 0646); fix: chmod go-w $T/apmatrix.yaml"
	in_sim "$HOSTS/seed.yaml" <<EOF
cp "$T/apmatrix.yaml" /etc/apmatrix.yaml && chmod 666 /etc/apmatrix.yaml
expect_exit 65 apmatrix apply
[ "\$(nwrites)" = 0 ] || die "apply wrote"
chmod 644 /etc/apmatrix.yaml
expect_exit 0 apmatrix apply >/dev/null
[ "\$(nwrites)" -gt 0 ] || die "the trusted file was not applied"
echo OK
EOF
	assert_success
	assert_output --partial "/etc/apmatrix.yaml: refused: writable by everyone (mode 0666)"
	assert_output --partial "nothing was changed"
	assert_output --partial OK
}

@test "trust: a file owned by another user is refused for root, with the chown fix" {
	chown nobody "$T/apmatrix.yaml"
	run "$APMATRIX" -c "$T/apmatrix.yaml" --no-live check
	[ "$status" -eq 65 ]
	assert_output --regexp "^apmatrix: $T/apmatrix.yaml: refused: owned by user 'nobody' \(uid [0-9]+\), not by root, so that user could change what apmatrix does as root; fix: chown root $T/apmatrix.yaml$"
	# apply and diff refuse the file before they read the host; an empty sysfs root all the same
	mkdir "$T/nosys"
	run env APMATRIX_SYSFS_ROOT="$T/nosys" "$APMATRIX" -c "$T/apmatrix.yaml" apply
	[ "$status" -eq 65 ]
	assert_output --partial "nothing was changed"
	# diff changes nothing ever: it does not say so
	run env APMATRIX_SYSFS_ROOT="$T/nosys" "$APMATRIX" -c "$T/apmatrix.yaml" diff
	[ "$status" -eq 65 ]
	assert_output --partial "refused: owned by user 'nobody'"
	refute_output --partial "nothing was changed"
}

@test "trust: a directory on the way writable by others is refused; a sticky one (/tmp) is fine" {
	mkdir "$T/open"
	cp "$T/apmatrix.yaml" "$T/open/apmatrix.yaml"
	chmod 777 "$T/open"
	run "$APMATRIX" -c "$T/open/apmatrix.yaml" --no-live check
	[ "$status" -eq 65 ]
	assert_output "apmatrix: $T/open/apmatrix.yaml: refused: directory $T/open is writable by everyone (mode 0777); fix: chmod go-w $T/open"
	chmod 1777 "$T/open"
	run "$APMATRIX" -c "$T/open/apmatrix.yaml" --no-live check
	assert_success
	# a symlink is judged by where it leads
	chmod 777 "$T/open"
	ln -s "$T/open/apmatrix.yaml" "$T/link.yaml"
	run "$APMATRIX" -c "$T/link.yaml" --no-live check
	[ "$status" -eq 65 ]
	assert_output --partial "directory $T/open is writable by everyone"
}

@test "trust: a symbolic link to the configuration is refused in a directory others may write, or when another user owns it; root's link in root's directory is followed" {
	mkdir -m 0777 "$T/open"
	ln -s "$T/apmatrix.yaml" "$T/open/link.yaml"
	run "$APMATRIX" -c "$T/open/link.yaml" --no-live check
	[ "$status" -eq 65 ]
	assert_output "apmatrix: $T/open/link.yaml: refused: directory $T/open is writable by everyone (mode 0777); fix: chmod go-w $T/open"
	chmod 1777 "$T/open"
	rm "$T/open/link.yaml"
	as_nobody ln -s "$T/apmatrix.yaml" "$T/open/link.yaml"
	run "$APMATRIX" -c "$T/open/link.yaml" --no-live check
	[ "$status" -eq 65 ]
	assert_output --partial "symbolic link $T/open/link.yaml is owned by user 'nobody'"
	ln -s "$T/apmatrix.yaml" "$T/rootlink.yaml"
	run "$APMATRIX" -c "$T/rootlink.yaml" --no-live check
	assert_success
	assert_output --partial "ok: 2 guests"
	# every directory passed through counts, not only the link's own: a 0777 one above could swap it
	chmod 0777 "$T/open" && mkdir -m 0755 "$T/open/d" && ln -s "$T/apmatrix.yaml" "$T/open/d/link.yaml"
	run "$APMATRIX" -c "$T/open/d/link.yaml" --no-live check
	[ "$status" -eq 65 ]
	assert_output "apmatrix: $T/open/d/link.yaml: refused: directory $T/open is writable by everyone (mode 0777); fix: chmod go-w $T/open"
	run "$APMATRIX" -c "$T/open/d/../../apmatrix.yaml" --no-live check
	[ "$status" -eq 65 ]
	assert_output --partial "directory $T/open is writable by everyone"
	# the kernel's own links (/dev/stdin, /proc/self) are followed as realpath() does
	run "$APMATRIX" -c /dev/stdin --no-live check < "$T/apmatrix.yaml"
	assert_success
	assert_output --partial "ok: 2 guests"
	(cd "$T" && "$APMATRIX" -c /proc/self/cwd/apmatrix.yaml --no-live check) || false
	# a file taken for a directory: Not a directory, as the kernel says
	run "$APMATRIX" -c "$T/apmatrix.yaml/" --no-live check
	[ "$status" -eq 65 ]
	assert_output "apmatrix: $T/apmatrix.yaml/: cannot read: Not a directory"
	run "$APMATRIX" -c "$T/apmatrix.yaml/../apmatrix.yaml" --no-live check
	[ "$status" -eq 65 ]
}

@test "trust: the drop-in directory and its files are checked too" {
	mkdir "$T/d"
	printf 'guests:\n  g3: {adapters: [0x07], domains: [0x07]}\n' >"$T/d/10-x.yaml"
	run "$APMATRIX" -c "$T/apmatrix.yaml" --config-dir "$T/d" --no-live check
	assert_success
	chmod 775 "$T/d"
	run "$APMATRIX" -c "$T/apmatrix.yaml" --config-dir "$T/d" --no-live check
	[ "$status" -eq 65 ]
	assert_output "apmatrix: $T/d: drop-in directory refused: writable by group 'root' (mode 0775); fix: chmod go-w $T/d"
	chmod 755 "$T/d"
	chown nobody "$T/d/10-x.yaml"
	run "$APMATRIX" -c "$T/apmatrix.yaml" --config-dir "$T/d" --no-live check
	[ "$status" -eq 65 ]
	assert_output --partial "apmatrix: $T/d/10-x.yaml: refused: owned by user 'nobody'"
	chown root "$T/d/10-x.yaml"
	chown nobody "$T/d"
	run "$APMATRIX" -c "$T/apmatrix.yaml" --config-dir "$T/d" --no-live check
	[ "$status" -eq 65 ]
	assert_output --partial "apmatrix: $T/d: drop-in directory refused: owned by user 'nobody'"
}

@test "trust: a non-root user checks and shows their own files, and root's, not a third user's" {
	mkdir "$T/mine"
	cp "$T/apmatrix.yaml" "$T/mine/apmatrix.yaml"
	chown -R nobody "$T/mine"
	run as_nobody "$APMATRIX" -c "$T/mine/apmatrix.yaml" --no-live check
	assert_success
	assert_output --partial "ok: 2 guests"
	run as_nobody "$APMATRIX" -c "$T/mine/apmatrix.yaml" --no-live show guest1
	assert_success
	assert_output --partial guest1
	run as_nobody "$APMATRIX" -c "$T/apmatrix.yaml" --no-live check
	assert_success
	chown daemon "$T/mine/apmatrix.yaml"
	run as_nobody "$APMATRIX" -c "$T/mine/apmatrix.yaml" --no-live check
	[ "$status" -eq 65 ]
	assert_output --regexp "$T/mine/apmatrix.yaml: refused: owned by user 'daemon' \(uid [0-9]+\), not by root or by you, 'nobody' \(uid [0-9]+\); fix: chown root $T/mine/apmatrix.yaml, or use a copy that you own"
	# standard input is the caller's own data
	run as_nobody sh -c "'$APMATRIX' -c - --no-live check <'$EXAMPLES/seed-two-guests.yaml'"
	assert_success
}

@test "audit: no shell-outs in src/ (system, popen, exec*, posix_spawn, fork)" {
	run grep -nE '\b(system|popen|execl|execlp|execle|execv|execvp|execvpe|fexecve|posix_spawnp?|fork|vfork)[[:space:]]*\(' "$TOP"/src/*.c
	echo "$output"
	[ "$status" -eq 1 ]
}

@test "audit: sysfs paths stay under the sysfs root: .. and absolute symlinks are refused" {
	# a captured tree whose mdev type directory is a symlink out of the root
	root=$T/sys
	mkdir -p "$root/bus/ap" "$root/devices/vfio_ap/matrix/mdev_supported_types" "$T/outside"
	echo secret >"$T/outside/devices"
	ln -s "$T/outside" "$root/devices/vfio_ap/matrix/mdev_supported_types/vfio_ap-passthrough"
	ln -s ../../../../outside "$root/devices/ap"
	run env APMATRIX_SYSFS_ROOT="$root" "$APMATRIX" -c "$T/apmatrix.yaml" status
	echo "$output"
	[[ "$output" != *secret* ]]
	# the path builders only ever see names that cannot hold '/' or '..':
	# UUIDs are parsed and printed back by src/uuid.c, names are [A-Za-z0-9_.-] and not '..'
	run "$APMATRIX" -c - --no-live check <<'EOC'
version: 1
guests:
  "..": {uuid: "../../../../bus/ap/apmask", adapters: [5], domains: [4]}
EOC
	[ "$status" -eq 65 ]
	assert_output --partial "guest '..': invalid name"
	assert_output --partial "invalid UUID '../../../../bus/ap/apmask'"
}

@test "trust: a non-root user runs diff on the (simulated) host with their own --config; nothing is written" {
	in_sim "$HOSTS/seed.yaml" <<'EOF'
NB=$(mktemp -d /tmp/trust-nb.XXXXXX) && chmod 755 "$NB" && trap 'rm -rf "$NB"' EXIT
cp "$EXAMPLES/seed-two-guests.yaml" "$NB/a.yaml" && chown nobody "$NB/a.yaml"
nb() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
nb apmatrix -c $NB/a.yaml diff >"$NB/out"; rc=$?
[ "$rc" = 2 ] || die "diff as nobody exited $rc"
grep -q 'guest1 .*: create mdev' $NB/out || die "no plan: $(cat "$NB/out")"
nb apmatrix -c $NB/a.yaml show >/dev/null || die "show as nobody"
chown daemon $NB/a.yaml
nb apmatrix -c $NB/a.yaml diff 2>"$NB/err"; rc=$?
[ "$rc" = 65 ] || die "diff of daemon's file as nobody exited $rc"
grep -q "owned by user 'daemon'" "$NB/err" || die "$(cat "$NB/err")"
[ "$(nwrites)" = 0 ] || die "wrote"
echo OK
EOF
	assert_success
	assert_output --partial OK
}
