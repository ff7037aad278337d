#!/usr/bin/env bats
# apmatrix check on the golden cases (STYLE R33): every tests/cases/bad-*
# must exit 65 with exactly its expected.err on stderr, every good-* exit 0
# (and match expected.json when there is one).  A case's apmatrix.d/ is
# passed as --config-dir.  One @test per case, so that each counts and fails
# on its own; the last test makes sure no case directory lacks its @test.

bats_require_minimum_version 1.5.0
load ../lib/jqe

setup() {
	APMATRIX_TOP=${APMATRIX_TOP:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)}
	cd "$APMATRIX_TOP" || exit 1
	APMATRIX="${APMATRIX_BIN:-$APMATRIX_TOP/build}/apmatrix"
	# the simulator tests/lib/with-sim runs, chosen as tests/bats/helpers.bash
	# chooses it: APMATRIX_SIM, else the one built with APMATRIX_BIN's
	# apmatrix, else build/apmatrix-sim (with-sim's default)
	if [ -z "${APMATRIX_SIM:-}" ] && [ -x "${APMATRIX_BIN:-$APMATRIX_TOP/build}/apmatrix-sim" ]; then
		export APMATRIX_SIM=${APMATRIX_BIN:-$APMATRIX_TOP/build}/apmatrix-sim
	fi
}

# run_case DIR [extra args...]: runs check on the case, stdout and stderr apart;
# --no-live: the cases are about the configuration, and on a machine with an
# AP bus check would read it and add the host's diagnostics
run_case() {
	local dir=tests/cases/$1
	shift
	local args=(--no-live -c "$dir/config.yaml")
	[ -d "$dir/apmatrix.d" ] && args+=(--config-dir "$dir/apmatrix.d")
	out=$(mktemp) err=$(mktemp)
	set +e
	"$APMATRIX" "${args[@]}" "$@" check >"$out" 2>"$err"
	status=$?
	set -e
}

bad_case() {
	run_case "$1"
	if ! diff -u "tests/cases/$1/expected.err" "$err"; then
		rm -f "$out" "$err"
		return 1
	fi
	rm -f "$out" "$err"
	[ "$status" -eq 65 ] || { echo "exit $status, want 65"; return 1; }
}

good_case() {
	run_case "$1"
	cat "$err"
	[ "$status" -eq 0 ] || { echo "exit $status, want 0"; rm -f "$out" "$err"; return 1; }
	# a good case may still warn, but never errs
	! grep -v ': warning: ' "$err" | grep -q . || { rm -f "$out" "$err"; return 1; }
	if [ -f "tests/cases/$1/expected.json" ]; then
		run_case "$1" --json
		diff -u <(jq -S . "tests/cases/$1/expected.json") <(jq -S . "$out") || { rm -f "$out" "$err"; return 1; }
	fi
	rm -f "$out" "$err"
}

@test "check bad-adapters-no-domains" {
	bad_case bad-adapters-no-domains
}

@test "check bad-anchor-alias" {
	bad_case bad-anchor-alias
}

@test "check bad-duplicate-key-control-chars" {
	bad_case bad-duplicate-key-control-chars
}

@test "check bad-boolean-in-list" {
	bad_case bad-boolean-in-list
}

@test "check bad-comments-only" {
	bad_case bad-comments-only
}

@test "check bad-control-domains-only" {
	bad_case bad-control-domains-only
}

@test "check bad-domains-no-adapters" {
	bad_case bad-domains-no-adapters
}

@test "check bad-dropin-guest-twice" {
	bad_case bad-dropin-guest-twice
}

@test "check bad-dropin-host-twice" {
	bad_case bad-dropin-host-twice
}

@test "check bad-dropin-overlap" {
	bad_case bad-dropin-overlap
}

@test "check bad-dropin-version-2" {
	bad_case bad-dropin-version-2
}

@test "check bad-duplicate-guest" {
	bad_case bad-duplicate-guest
}

@test "check bad-duplicate-key" {
	bad_case bad-duplicate-key
}

@test "check bad-duplicate-number-warning" {
	bad_case bad-duplicate-number-warning
}

@test "check bad-duplicate-top-key" {
	bad_case bad-duplicate-top-key
}

@test "check bad-empty-file" {
	bad_case bad-empty-file
}

@test "check bad-empty-guest" {
	bad_case bad-empty-guest
}

@test "check bad-empty-list" {
	bad_case bad-empty-list
}

@test "check bad-float" {
	bad_case bad-float
}

@test "check bad-guest-name" {
	bad_case bad-guest-name
}

@test "check bad-guest-name-dotdot" {
	bad_case bad-guest-name-dotdot
}

@test "check bad-guest-name-too-long" {
	bad_case bad-guest-name-too-long
}

@test "check bad-guest-not-mapping" {
	bad_case bad-guest-not-mapping
}

@test "check bad-guests-not-mapping" {
	bad_case bad-guests-not-mapping
}

@test "check bad-hex-no-digits" {
	bad_case bad-hex-no-digits
}

@test "check bad-host-keep-conflict" {
	bad_case bad-host-keep-conflict
}

@test "check bad-host-keep-empty" {
	bad_case bad-host-keep-empty
}

@test "check bad-host-keep-whole-card" {
	bad_case bad-host-keep-whole-card
}

@test "check bad-huge-number" {
	bad_case bad-huge-number
}

@test "check bad-key-not-scalar" {
	bad_case bad-key-not-scalar
}

@test "check bad-leading-zero-0010" {
	bad_case bad-leading-zero-0010
}

@test "check bad-leading-zero-all-zeros" {
	bad_case bad-leading-zero-all-zeros
}

@test "check bad-leading-zero-not-octal" {
	bad_case bad-leading-zero-not-octal
}

@test "check bad-leading-zero-octal" {
	bad_case bad-leading-zero-octal
}

@test "check bad-list-entry-is-mapping" {
	bad_case bad-list-entry-is-mapping
}

@test "check bad-list-is-scalar" {
	bad_case bad-list-is-scalar
}

@test "check bad-list-no-value" {
	bad_case bad-list-no-value
}

@test "check bad-many-errors" {
	bad_case bad-many-errors
}

@test "check bad-masks-value" {
	bad_case bad-masks-value
}

@test "check bad-multiple-documents" {
	bad_case bad-multiple-documents
}

@test "check bad-negative" {
	bad_case bad-negative
}

@test "check bad-not-a-number" {
	bad_case bad-not-a-number
}

@test "check bad-out-of-range-decimal" {
	bad_case bad-out-of-range-decimal
}

@test "check bad-out-of-range-hex" {
	bad_case bad-out-of-range-hex
}

@test "check bad-overlap-many-apqns" {
	bad_case bad-overlap-many-apqns
}

@test "check bad-overlap-seed-example2" {
	bad_case bad-overlap-seed-example2
}

@test "check bad-overlap-three-guests" {
	bad_case bad-overlap-three-guests
}

@test "check bad-range-end-out-of-range" {
	bad_case bad-range-end-out-of-range
}

@test "check bad-range-leading-zero" {
	bad_case bad-range-leading-zero
}

@test "check bad-range-no-upper-end" {
	bad_case bad-range-no-upper-end
}

@test "check bad-range-reversed" {
	bad_case bad-range-reversed
}

@test "check bad-range-three-parts" {
	bad_case bad-range-three-parts
}

@test "check bad-range-unquoted" {
	bad_case bad-range-unquoted
}

@test "check bad-root-scalar" {
	bad_case bad-root-scalar
}

@test "check bad-root-sequence" {
	bad_case bad-root-sequence
}

@test "check bad-syntax-error" {
	bad_case bad-syntax-error
}

@test "check bad-tab-indent" {
	bad_case bad-tab-indent
}

@test "check bad-unknown-key-guest" {
	bad_case bad-unknown-key-guest
}

@test "check bad-unknown-key-host" {
	bad_case bad-unknown-key-host
}

@test "check bad-unknown-key-keep" {
	bad_case bad-unknown-key-keep
}

@test "check bad-unknown-key-top" {
	bad_case bad-unknown-key-top
}

@test "check bad-usage-as-control-not-bool" {
	bad_case bad-usage-as-control-not-bool
}

@test "check bad-uuid-braces" {
	bad_case bad-uuid-braces
}

@test "check bad-uuid-duplicate" {
	bad_case bad-uuid-duplicate
}

@test "check bad-uuid-duplicate-derived" {
	bad_case bad-uuid-duplicate-derived
}

@test "check bad-uuid-invalid" {
	bad_case bad-uuid-invalid
}

@test "check bad-uuid-no-value" {
	bad_case bad-uuid-no-value
}

@test "check bad-version-2" {
	bad_case bad-version-2
}

@test "check bad-version-missing" {
	bad_case bad-version-missing
}

@test "check bad-version-quoted" {
	bad_case bad-version-quoted
}

@test "check bad-yaml-tag" {
	bad_case bad-yaml-tag
}

@test "check good-control-domains" {
	good_case good-control-domains
}

@test "check good-empty-sections" {
	good_case good-empty-sections
}

@test "check good-flow-style" {
	good_case good-flow-style
}

@test "check good-host-keep-and-masks" {
	good_case good-host-keep-and-masks
}

@test "check good-names" {
	good_case good-names
}

@test "check good-no-guests" {
	good_case good-no-guests
}

@test "check good-numbers" {
	good_case good-numbers
}

@test "check good-seed-example1" {
	good_case good-seed-example1
}

@test "check good-seed-two-guests" {
	good_case good-seed-two-guests
}

@test "every case directory has its @test" {
	local missing=0
	for d in tests/cases/bad-* tests/cases/good-*; do
		n=${d##*/}
		grep -q "^@test \"check $n\" {" tests/bats/check.bats || { echo "no @test for $n"; missing=1; }
		case $n in bad-*) [ -f "$d/expected.err" ] || { echo "$n has no expected.err"; missing=1; } ;; esac
	done
	[ "$missing" -eq 0 ]
}

@test "the golden cases and the other runs here without the simulator do not depend on the machine's /sys (--no-live or an empty sysfs root); the cases pass on a host with an AP bus too" {
	# every line that runs the binary off the simulator says so
	off=$(grep -n '"\$APMATRIX"' "$BATS_TEST_FILENAME" | grep -v -e '--no-live' -e 'APMATRIX_SYSFS_ROOT=' -e 'with-sim' -e '"${args\[@\]}"' || true)
	[ -z "$off" ] || { echo "reads the machine's /sys: $off"; false; }
	grep -q '^	local args=(--no-live ' "$BATS_TEST_FILENAME"
	[ "$(id -u)" = 0 ] || skip "needs root (mount namespace, FUSE)"
	[ -e /dev/fuse ] || skip "no /dev/fuse"
	# the cases, by the same functions, on the simulated seed host (an AP bus under /sys): as on a machine without one
	cat >"$BATS_TEST_TMPDIR/cases.sh" <<EOT
$(declare -f run_case bad_case good_case)
cd "\$1" && APMATRIX=\$2 && n=0
for d in tests/cases/bad-* tests/cases/good-*; do
	c=\${d##*/}
	\${c%%-*}_case "\$c" >/dev/null 2>&1 || echo "differs on a host: \$c"
	n=\$((n + 1))
done
echo "\$n cases"
EOT
	run "$APMATRIX_TOP/tests/lib/with-sim" "$APMATRIX_TOP/examples/hosts/seed.yaml" -- bash "$BATS_TEST_TMPDIR/cases.sh" "$APMATRIX_TOP" "$APMATRIX"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "$(ls -d tests/cases/bad-* tests/cases/good-* | wc -l) cases" ]
}

@test "at least 35 distinct bad cases" {
	n=$(ls -d tests/cases/bad-* | wc -l)
	[ "$n" -ge 35 ]
	# distinct: no two cases share a config
	[ "$(cat tests/cases/bad-*/config.yaml | md5sum)" ] # (read them all)
	dups=$(for f in tests/cases/bad-*/config.yaml; do md5sum <"$f"; done | sort | uniq -d | wc -l)
	[ "$dups" -eq 0 ]
}

@test "examples: the seed's two guests, Example 1 and the multi-guest host are valid" {
	run "$APMATRIX" --no-live -c examples/seed-two-guests.yaml check
	[ "$status" -eq 0 ]
	run "$APMATRIX" --no-live -c examples/seed-example1-valid.yaml check
	[ "$status" -eq 0 ]
	# an empty directory as sysfs: no AP bus, whatever machine runs the test
	run env APMATRIX_SYSFS_ROOT="$BATS_TEST_TMPDIR" "$APMATRIX" -c examples/apmatrix.yaml --config-dir examples/apmatrix.d check
	[ "$status" -eq 0 ]
	[ "$output" = "ok: 6 guests, 17 APQNs, no conflicts (configuration only: no AP bus under $BATS_TEST_TMPDIR/bus/ap, host not checked)" ]
}

@test "check off an AP host or with --no-live: the ok line says the host was not checked and why, --json host_checked false; -q prints nothing" {
	root=$BATS_TEST_TMPDIR/nosys
	mkdir "$root"
	run --separate-stderr env APMATRIX_SYSFS_ROOT="$root" "$APMATRIX" -c examples/seed-two-guests.yaml check
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	[ "$output" = "ok: 2 guests, 6 APQNs, no conflicts (configuration only: no AP bus under $root/bus/ap, host not checked)" ]
	# --no-live names itself, also where there is no AP bus
	for r in "$root" /sys; do
		run --separate-stderr env APMATRIX_SYSFS_ROOT="$r" "$APMATRIX" --no-live -c examples/seed-two-guests.yaml check
		[ "$status" -eq 0 ]
		[ "$output" = "ok: 2 guests, 6 APQNs, no conflicts (configuration only: --no-live, host not checked)" ]
		run --separate-stderr env APMATRIX_SYSFS_ROOT="$r" "$APMATRIX" --no-live -c examples/seed-two-guests.yaml check --json
		[ "$status" -eq 0 ]
		jqe '.valid == true and .host_checked == false' <<<"$output"
	done
	run --separate-stderr env APMATRIX_SYSFS_ROOT="$root" "$APMATRIX" -c examples/seed-two-guests.yaml check --json
	[ "$status" -eq 0 ]
	jqe '.valid == true and .host_checked == false and (keys_unsorted | .[0:4]) == ["version", "document", "valid", "host_checked"]' <<<"$output"
	# an invalid configuration: no ok line, and the document says the host was not checked either
	run --separate-stderr env APMATRIX_SYSFS_ROOT="$root" "$APMATRIX" -c examples/seed-example2-invalid.yaml check --json
	[ "$status" -eq 65 ]
	jqe '.valid == false and .host_checked == false' <<<"$output"
	# show --json prints check's document here: the host was not read
	run --separate-stderr env APMATRIX_SYSFS_ROOT="$root" "$APMATRIX" -c examples/seed-two-guests.yaml show --json
	[ "$status" -eq 0 ]
	jqe '.document == "check" and .host_checked == false' <<<"$output"
	# -q: nothing, exit 0 as before
	run --separate-stderr env APMATRIX_SYSFS_ROOT="$root" "$APMATRIX" -q -c examples/seed-two-guests.yaml check
	[ "$status" -eq 0 ]
	[ -z "$output" ] && [ -z "$stderr" ]
}

@test "examples: the seed's Example 2 names APQN 01.0006, both guests and both lines" {
	run "$APMATRIX" --no-live -c examples/seed-example2-invalid.yaml check
	[ "$status" -eq 65 ]
	[ "$output" = "apmatrix: examples/seed-example2-invalid.yaml:11:15: guest 'Guest2': APQN 01.0006 already assigned to guest 'Guest1' (examples/seed-example2-invalid.yaml:8:18)" ]
}

@test "check -c - reads stdin" {
	run "$APMATRIX" --no-live -c - check <examples/seed-two-guests.yaml
	[ "$status" -eq 0 ]
	run "$APMATRIX" --no-live -c - check <tests/cases/bad-leading-zero-octal/config.yaml
	[ "$status" -eq 65 ]
	[ "$output" = "apmatrix: <stdin>:5:15: guest 'guest1': domain '047' has a leading zero, which YAML 1.1 and the kernel read as octal (39); did you mean 0x47 or 47?" ]
}

@test "--config-dir: drop-ins merged in name order, only *.yaml" {
	tmp=$(mktemp -d)
	printf 'version: 1\n' >"$tmp/main.yaml"
	mkdir "$tmp/d"
	printf 'guests:\n  b:\n    adapters: [1]\n    domains: [1]\n' >"$tmp/d/20-b.yaml"
	printf 'guests:\n  a:\n    adapters: [1]\n    domains: [1]\n' >"$tmp/d/10-a.yaml"
	printf 'guests:\n  c:\n    adapters: [1]\n    domains: [1]\n' >"$tmp/d/30-c.yml"
	printf 'guests: [\n' >"$tmp/d/.hidden.yaml"
	run "$APMATRIX" --no-live -c "$tmp/main.yaml" --config-dir "$tmp/d" check
	rm -rf "$tmp"
	[ "$status" -eq 65 ]
	# 10-a.yaml is read first, so b (in 20-b.yaml) is the later definition;
	# 30-c.yml is not read (c would conflict too), and says so
	[ "$output" = "apmatrix: $tmp/d/20-b.yaml:4:15: guest 'b': APQN 01.0001 already assigned to guest 'a' ($tmp/d/10-a.yaml:4:15)
apmatrix: $tmp/d/30-c.yml: warning: not read: drop-ins end in .yaml (rename it to 30-c.yaml)" ]
}

@test "--config-dir: a drop-in meant to be read but not named *.yaml (*.yml, *.YAML, a directory) is named in a warning; disabled names and hidden files stay quiet" {
	tmp=$BATS_TEST_TMPDIR
	printf 'version: 1\n' >"$tmp/main.yaml"
	mkdir "$tmp/d" "$tmp/d/z.yaml"
	g() { printf 'guests:\n  %s:\n    adapters: [%s]\n    domains: [1]\n' "$1" "$2" >"$tmp/d/$3"; }
	g a 1 10-a.yaml
	g g3 3 30-g3.yml
	g g4 4 40-g4.YAML
	g g5 5 50-g5.Yml
	g old 6 60-old.yaml.disabled
	g bak 7 70-bak.yaml~
	g new 8 80-new.yaml.rpmnew
	g hid 9 .90-hidden.yml
	run --separate-stderr "$APMATRIX" --no-live -c "$tmp/main.yaml" --config-dir "$tmp/d" check
	echo "$stderr"
	[ "$status" -eq 0 ]
	[ "$stderr" = "apmatrix: $tmp/d/30-g3.yml: warning: not read: drop-ins end in .yaml (rename it to 30-g3.yaml)
apmatrix: $tmp/d/40-g4.YAML: warning: not read: drop-ins end in .yaml (rename it to 40-g4.yaml)
apmatrix: $tmp/d/50-g5.Yml: warning: not read: drop-ins end in .yaml (rename it to 50-g5.yaml)
apmatrix: $tmp/d/z.yaml: warning: not read: a directory; drop-ins are files ending in .yaml" ]
	# only 10-a.yaml was read
	run "$APMATRIX" --no-live -c "$tmp/main.yaml" --config-dir "$tmp/d" --json check
	[ "$status" -eq 0 ]
	jqe '[.guests[].name] == ["a"]' <<<"$output"
	jqe '[.diagnostics[] | select(.severity == "warning") | .message | test("not read")] == [true, true, true, true]' <<<"$output"
	# -q: errors only
	run --separate-stderr "$APMATRIX" --no-live -q -c "$tmp/main.yaml" --config-dir "$tmp/d" check
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
}

@test "--config-dir: a drop-in not read and a file refused or missing are diagnostics about that file: --json gives its path and a null line; the text says the path once" {
	tmp=$BATS_TEST_TMPDIR
	printf 'version: 1\n' >"$tmp/main.yaml"
	mkdir "$tmp/d"
	printf 'guests:\n  a:\n    adapters: [1]\n    domains: [1]\n' >"$tmp/d/10-a.yaml"
	printf 'guests:\n  b:\n    adapters: [2]\n    domains: [2]\n' >"$tmp/d/20-b.yml"
	printf 'guests:\n  c:\n    adapters: [0x100]\n    domains: [3]\n' >"$tmp/d/30-c.yaml"
	printf 'guests:\n  w:\n    adapters: [4]\n    domains: [4]\n' >"$tmp/d/40-w.yaml"
	chmod 666 "$tmp/d/40-w.yaml"
	run --separate-stderr "$APMATRIX" --no-live -c "$tmp/main.yaml" --config-dir "$tmp/d" check --json
	[ "$status" -eq 65 ]
	[ -z "$stderr" ]
	got=$(jq -c '[.diagnostics[] | [.severity, .file, .line, .column]]' <<<"$output")
	echo "$got"
	# in name order of the files, whether they were read or not
	[ "$got" = '[["warning","'"$tmp"'/d/20-b.yml",null,null],["error","'"$tmp"'/d/30-c.yaml",3,16],["error","'"$tmp"'/d/40-w.yaml",null,null]]' ]
	jqe '.diagnostics[0].message == "not read: drop-ins end in .yaml (rename it to 20-b.yaml)"' <<<"$output"
	jqe '.diagnostics[2].message | startswith("refused: writable by everyone (mode 0666)")' <<<"$output"
	# text: "FILE: [warning: ]message", the path once, no line or column
	run --separate-stderr "$APMATRIX" --no-live -c "$tmp/main.yaml" --config-dir "$tmp/d" check
	[ "$status" -eq 65 ]
	echo "$stderr"
	[ "${stderr_lines[0]}" = "apmatrix: $tmp/d/20-b.yml: warning: not read: drop-ins end in .yaml (rename it to 20-b.yaml)" ]
	[ "${stderr_lines[2]}" = "apmatrix: $tmp/d/40-w.yaml: refused: writable by everyone (mode 0666); fix: chmod go-w $tmp/d/40-w.yaml" ]
	# a main file that cannot be read, and a drop-in directory refused
	run --separate-stderr "$APMATRIX" --no-live -c "$tmp/missing.yaml" check --json
	[ "$status" -eq 65 ]
	[ "$(jq -c '.diagnostics' <<<"$output")" = '[{"severity":"error","file":"'"$tmp"'/missing.yaml","line":null,"column":null,"guest":null,"message":"cannot read: No such file or directory"}]' ]
	run --separate-stderr "$APMATRIX" --no-live -c "$tmp/missing.yaml" check
	[ "$stderr" = "apmatrix: $tmp/missing.yaml: cannot read: No such file or directory" ]
	chmod 777 "$tmp/d"
	run --separate-stderr "$APMATRIX" --no-live -c "$tmp/main.yaml" --config-dir "$tmp/d" check --json
	[ "$status" -eq 65 ]
	jqe '.diagnostics == [{"severity":"error","file":"'"$tmp"'/d","line":null,"column":null,"guest":null,"message":"drop-in directory refused: writable by everyone (mode 0777); fix: chmod go-w '"$tmp"'/d"}]' <<<"$output"
}

@test "drop-ins: apply on a host says once that /etc/apmatrix.d/30-g3.yml is not read, and leaves its guest out" {
	[ "$(id -u)" = 0 ] || skip "needs root (mount namespace, FUSE)"
	[ -e /dev/fuse ] || skip "no /dev/fuse"
	cat >"$BATS_TEST_TMPDIR/s.sh" <<'EOT'
set -u
printf 'version: 1\nguests:\n  g1:\n    adapters: [0x05]\n    domains: [0x04]\n' > /etc/apmatrix.yaml
mkdir -p /etc/apmatrix.d
printf 'guests:\n  g3:\n    adapters: [0x06]\n    domains: [0x47]\n' > /etc/apmatrix.d/30-g3.yml
"$1" apply > /dev/null 2> "$2/err"; echo "apply exit $?"
cat "$2/err"
"$1" --json status 2> /dev/null | jq -r '[.guests[].name] | join(" ")'
"$1" status > /dev/null 2> "$2/err"
cat "$2/err"
EOT
	run "$APMATRIX_TOP/tests/lib/with-sim" "$APMATRIX_TOP/examples/hosts/seed.yaml" -- bash "$BATS_TEST_TMPDIR/s.sh" "$APMATRIX" "$BATS_TEST_TMPDIR"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "apply exit 0
apmatrix: /etc/apmatrix.d/30-g3.yml: warning: not read: drop-ins end in .yaml (rename it to 30-g3.yaml)
g1
apmatrix: /etc/apmatrix.d/30-g3.yml: warning: not read: drop-ins end in .yaml (rename it to 30-g3.yaml)" ]
}

@test "drop-ins: host: in a drop-in is read with a warning at it, and the errors that invoke host.masks or host.keep cite where it was given" {
	[ "$(id -u)" = 0 ] || skip "needs root (mount namespace, FUSE)"
	[ -e /dev/fuse ] || skip "no /dev/fuse"
	cat >"$BATS_TEST_TMPDIR/s.sh" <<'EOT'
set -u
printf 'version: 1\nguests:\n  guest1:\n    adapters: [0x05]\n    domains: [0x04]\n' > /etc/apmatrix.yaml
mkdir -p /etc/apmatrix.d
printf 'host:\n  masks: off\n' > /etc/apmatrix.d/10-host.yaml
"$1" check 2>&1; echo "check exit $?"
printf 'host:\n  keep: {adapters: [5], domains: [4]}\n' > /etc/apmatrix.d/10-host.yaml
"$1" check 2>&1 | grep -F 'kept by the host'
# in the main file: no warning, and the error's own file is the setting's
printf 'version: 1\nhost: {masks: off}\nguests:\n  guest1:\n    adapters: [0x05]\n    domains: [0x04]\n' > /etc/apmatrix.yaml
rm /etc/apmatrix.d/10-host.yaml
"$1" check 2>&1; echo "check exit $?"
EOT
	run "$APMATRIX_TOP/tests/lib/with-sim" "$APMATRIX_TOP/examples/hosts/seed.yaml" -- bash "$BATS_TEST_TMPDIR/s.sh" "$APMATRIX"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "apmatrix: /etc/apmatrix.yaml:5:15: guest 'guest1': APQN 05.0004 is still reserved for host drivers and host.masks is off (/etc/apmatrix.d/10-host.yaml:2:10): clear apmask bit 0x05 (all of adapter 0x05) or aqmask bit 0x04 (all of domain 0x04), e.g. echo -0x04 > /sys/bus/ap/aqmask, or set host.masks: auto
apmatrix: /etc/apmatrix.d/10-host.yaml:1:1: warning: host settings in a drop-in apply to the whole host; keep them in /etc/apmatrix.yaml
check exit 65
apmatrix: /etc/apmatrix.yaml:5:15: guest 'guest1': APQN 05.0004 kept by the host (host.keep at /etc/apmatrix.d/10-host.yaml:2:3)
apmatrix: /etc/apmatrix.yaml:6:15: guest 'guest1': APQN 05.0004 is still reserved for host drivers and host.masks is off: clear apmask bit 0x05 (all of adapter 0x05) or aqmask bit 0x04 (all of domain 0x04), e.g. echo -0x04 > /sys/bus/ap/aqmask, or set host.masks: auto
check exit 65" ]
}

@test "host.keep: a guest that wants a kept queue gets one error, compile's (file:line:column, guest, APQN), in text and --json, on the host too; the plan does not say it again; exit 65" {
	[ "$(id -u)" = 0 ] || skip "needs root (mount namespace, FUSE)"
	[ -e /dev/fuse ] || skip "no /dev/fuse"
	cat >"$BATS_TEST_TMPDIR/s.sh" <<'EOT'
set -u
printf 'version: 1\nhost:\n  keep: {adapters: [5], domains: [4]}\nguests:\n  guest1:\n    adapters: [0x05]\n    domains: [0x04]\n  guest2:\n    adapters: [0x06]\n    domains: [0x47]\n' > /etc/apmatrix.yaml
"$1" check 2>&1; echo "check exit $?"
"$1" --json check 2>/dev/null | jq -c '[.host_checked, .diagnostics]'; echo "json exit ${PIPESTATUS[0]}"
# host.masks: off: no advice to clear the mask bits of a kept queue either (guest2's own problem is still said)
sed -i 's/^host:$/host:\n  masks: off/' /etc/apmatrix.yaml
"$1" check 2>&1; echo "check exit $?"
# diff and apply refuse the configuration as before: nothing for guest2 either
"$1" diff 2>&1; echo "diff exit $?"
"$1" apply 2>&1; echo "apply exit $?"
EOT
	run "$APMATRIX_TOP/tests/lib/with-sim" "$APMATRIX_TOP/examples/hosts/seed.yaml" -- bash "$BATS_TEST_TMPDIR/s.sh" "$APMATRIX"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "apmatrix: /etc/apmatrix.yaml:7:15: guest 'guest1': APQN 05.0004 kept by the host (host.keep at /etc/apmatrix.yaml:3:3)
check exit 65
[true,[{\"severity\":\"error\",\"file\":\"/etc/apmatrix.yaml\",\"line\":7,\"column\":15,\"guest\":\"guest1\",\"message\":\"guest 'guest1': APQN 05.0004 kept by the host (host.keep at /etc/apmatrix.yaml:3:3)\"}]]
json exit 65
apmatrix: /etc/apmatrix.yaml:8:15: guest 'guest1': APQN 05.0004 kept by the host (host.keep at /etc/apmatrix.yaml:4:3)
apmatrix: /etc/apmatrix.yaml:11:15: guest 'guest2': APQN 06.0047 is still reserved for host drivers and host.masks is off: clear apmask bit 0x06 (all of adapter 0x06) or aqmask bit 0x47 (all of domain 0x47), e.g. echo -0x47 > /sys/bus/ap/aqmask, or set host.masks: auto
check exit 65
apmatrix: /etc/apmatrix.yaml:8:15: guest 'guest1': APQN 05.0004 kept by the host (host.keep at /etc/apmatrix.yaml:4:3)
diff exit 65
apmatrix: /etc/apmatrix.yaml:8:15: guest 'guest1': APQN 05.0004 kept by the host (host.keep at /etc/apmatrix.yaml:4:3)
apmatrix: nothing was changed
apply exit 65" ]
}

@test "drop-ins: a drop-in or -c FILE that is a dangling symbolic link, or a loop of links, is said to be one (one line, exit 65)" {
	tmp=$BATS_TEST_TMPDIR
	printf 'version: 1\n' >"$tmp/main.yaml"
	mkdir "$tmp/d"
	ln -s "$tmp/nonexist.yaml" "$tmp/d/90-dangling.yaml"
	run --separate-stderr "$APMATRIX" --no-live -c "$tmp/main.yaml" --config-dir "$tmp/d" check
	[ "$status" -eq 65 ]
	[ "$stderr" = "apmatrix: $tmp/d/90-dangling.yaml: cannot read: it is a dangling symbolic link (to '$tmp/nonexist.yaml', which does not exist)" ]
	run --separate-stderr "$APMATRIX" --no-live -c "$tmp/d/90-dangling.yaml" check
	[ "$status" -eq 65 ]
	[ "$stderr" = "apmatrix: $tmp/d/90-dangling.yaml: cannot read: it is a dangling symbolic link (to '$tmp/nonexist.yaml', which does not exist)" ]
	rm "$tmp/d/90-dangling.yaml"
	ln -s 91-loop.yaml "$tmp/d/90-loop.yaml"
	ln -s 90-loop.yaml "$tmp/d/91-loop.yaml"
	run --separate-stderr "$APMATRIX" --no-live -c "$tmp/d/90-loop.yaml" check
	[ "$status" -eq 65 ]
	[ "$stderr" = "apmatrix: $tmp/d/90-loop.yaml: cannot read: it is a symbolic link in a loop of links (to '91-loop.yaml', which links back to '$tmp/d/90-loop.yaml')" ]
	# a longer loop names the link that closes it; a link that leads into a loop says so
	ln -s 90-loop.yaml "$tmp/d/92-loop.yaml"
	rm "$tmp/d/91-loop.yaml"
	ln -s 92-loop.yaml "$tmp/d/91-loop.yaml"
	run --separate-stderr "$APMATRIX" --no-live -c "$tmp/d/90-loop.yaml" check
	[ "$status" -eq 65 ]
	[ "$stderr" = "apmatrix: $tmp/d/90-loop.yaml: cannot read: it is a symbolic link in a loop of links (to '91-loop.yaml', a chain of links where '$tmp/d/92-loop.yaml' links back to '$tmp/d/90-loop.yaml')" ]
	ln -s d/91-loop.yaml "$tmp/into-loop.yaml"
	run --separate-stderr "$APMATRIX" --no-live -c "$tmp/into-loop.yaml" check
	[ "$status" -eq 65 ]
	[ "$stderr" = "apmatrix: $tmp/into-loop.yaml: cannot read: it is a symbolic link into a loop of links (to 'd/91-loop.yaml', a chain of links where '$tmp/d/90-loop.yaml' links back to '$tmp/d/91-loop.yaml')" ]
	rm "$tmp"/d/9?-loop.yaml
	# a chain of links ending nowhere: the first link's target is a link, which exists; the end is named
	ln -s "$tmp/nonexist.yaml" "$tmp/last.yaml"
	ln -s ../last.yaml "$tmp/d/90-chain.yaml"
	run --separate-stderr "$APMATRIX" --no-live -c "$tmp/main.yaml" --config-dir "$tmp/d" check
	[ "$status" -eq 65 ]
	[ "$stderr" = "apmatrix: $tmp/d/90-chain.yaml: cannot read: it is a dangling symbolic link (to '../last.yaml', a chain of links ending at '$tmp/nonexist.yaml', which does not exist)" ]
	rm "$tmp/d/90-chain.yaml"
	# the path at the end is shown with '.' and '..' resolved where they follow a directory that is no link
	mkdir "$tmp/etc" "$tmp/repo"
	ln -s ../repo/./missing.yaml "$tmp/etc/dangling.yaml"
	ln -s ../etc/dangling.yaml "$tmp/d/90-chain.yaml"
	run --separate-stderr "$APMATRIX" --no-live -c "$tmp/d/90-chain.yaml" check
	[ "$status" -eq 65 ]
	[ "$stderr" = "apmatrix: $tmp/d/90-chain.yaml: cannot read: it is a dangling symbolic link (to '../etc/dangling.yaml', a chain of links ending at '$tmp/repo/missing.yaml', which does not exist)" ]
	# after a link ('..' is then its target's parent) or where nothing is: as written
	ln -s repo "$tmp/via"
	ln -s ../via/../missing.yaml "$tmp/etc/via-dangling.yaml"
	ln -s ../etc/via-dangling.yaml "$tmp/d/91-chain.yaml"
	run --separate-stderr "$APMATRIX" --no-live -c "$tmp/d/91-chain.yaml" check
	[ "$status" -eq 65 ]
	[ "$stderr" = "apmatrix: $tmp/d/91-chain.yaml: cannot read: it is a dangling symbolic link (to '../etc/via-dangling.yaml', a chain of links ending at '$tmp/via/../missing.yaml', which does not exist)" ]
	ln -s ../nodir/../main.yaml "$tmp/etc/nodir-dangling.yaml"
	ln -s ../etc/nodir-dangling.yaml "$tmp/d/92-chain.yaml"
	run --separate-stderr "$APMATRIX" --no-live -c "$tmp/d/92-chain.yaml" check
	[ "$status" -eq 65 ]
	[ "$stderr" = "apmatrix: $tmp/d/92-chain.yaml: cannot read: it is a dangling symbolic link (to '../etc/nodir-dangling.yaml', a chain of links ending at '$tmp/nodir/../main.yaml', which does not exist)" ]
	rm "$tmp"/d/9?-chain.yaml
	# a loop in a directory part of where a link leads, not in the links themselves: the same wording
	ln -s loopdir2 "$tmp/loopdir"
	ln -s loopdir "$tmp/loopdir2"
	ln -s ../loopdir/x.yaml "$tmp/d/90-dirloop.yaml"
	run --separate-stderr "$APMATRIX" --no-live -c "$tmp/d/90-dirloop.yaml" check
	[ "$status" -eq 65 ]
	[ "$stderr" = "apmatrix: $tmp/d/90-dirloop.yaml: cannot read: it is a symbolic link into a loop of links (to '../loopdir/x.yaml', a chain of links where '$tmp/loopdir2' links back to '$tmp/loopdir')" ]
	ln -s self "$tmp/self"
	ln -s ../self/x.yaml "$tmp/d/91-dirloop.yaml"
	run --separate-stderr "$APMATRIX" --no-live -c "$tmp/d/91-dirloop.yaml" check
	[ "$status" -eq 65 ]
	[ "$stderr" = "apmatrix: $tmp/d/91-dirloop.yaml: cannot read: it is a symbolic link into a loop of links (to '../self/x.yaml', a chain of links ending at '$tmp/self', which links to itself)" ]
	ln -s 92-dirloop.yaml/x.yaml "$tmp/d/92-dirloop.yaml"
	run --separate-stderr "$APMATRIX" --no-live -c "$tmp/d/92-dirloop.yaml" check
	[ "$status" -eq 65 ]
	[ "$stderr" = "apmatrix: $tmp/d/92-dirloop.yaml: cannot read: it is a symbolic link in a loop of links (to '92-dirloop.yaml/x.yaml', a chain of links ending at '$tmp/d/92-dirloop.yaml', which links to itself)" ]
	rm "$tmp"/d/9?-dirloop.yaml
	# the link's text is anybody's: escaped, one line, no escape sequence
	ln -s $'gone\e[31m\nx.yaml' "$tmp/odd.yaml"
	run --separate-stderr "$APMATRIX" --no-live -c "$tmp/odd.yaml" check
	[ "$status" -eq 65 ]
	[ "$stderr" = "apmatrix: $tmp/odd.yaml: cannot read: it is a dangling symbolic link (to 'gone\x1b[31m\x0ax.yaml', which does not exist)" ]
	# a file that is not there at all: as before
	run --separate-stderr "$APMATRIX" --no-live -c "$tmp/none.yaml" check
	[ "$status" -eq 65 ]
	[ "$stderr" = "apmatrix: $tmp/none.yaml: cannot read: No such file or directory" ]
}

@test "--config-dir: a missing directory is no error, but said" {
	run --separate-stderr "$APMATRIX" --no-live -c examples/seed-two-guests.yaml --config-dir /nonexistent/apmatrix.d check
	[ "$status" -eq 0 ]
	[ "$stderr" = "apmatrix: warning: drop-in directory /nonexistent/apmatrix.d does not exist: no drop-ins are read" ]
}

@test "check: a missing file is an error naming the path" {
	run "$APMATRIX" --no-live -c /nonexistent/apmatrix.yaml check
	[ "$status" -ne 0 ]
	[[ "$output" == *"/nonexistent/apmatrix.yaml"* ]]
}

@test "check --json: version, validity, diagnostics and compiled guests" {
	run "$APMATRIX" --no-live -c examples/seed-two-guests.yaml --json check
	[ "$status" -eq 0 ]
	echo "$output" | jqe '.version == 1 and .valid == true and .diagnostics == []'
	echo "$output" | jqe '[.guests[].name] == ["guest1", "guest2"]'
	echo "$output" | jqe '.guests[0] | .uuid == "a4d8e314-29c2-57af-90ec-3bcb0bc33855" and .adapters == [5, 6] and .domains == [4, 171] and .control_domains == [4, 171]'
	echo "$output" | jqe '.guests[0].apqns == ["05.0004", "05.00ab", "06.0004", "06.00ab"]'
	echo "$output" | jqe '.guests[1].apqns == ["05.0047", "05.00ff"]'
}

@test "check --json: an invalid config lists its diagnostics with positions, exit 65" {
	run "$APMATRIX" --no-live -c tests/cases/bad-many-errors/config.yaml --json check
	[ "$status" -eq 65 ]
	echo "$output" | jqe '.version == 1 and .valid == false'
	echo "$output" | jqe '.diagnostics | length == 7'
	echo "$output" | jqe '.diagnostics | all(.severity == "error" and .file == "tests/cases/bad-many-errors/config.yaml" and (.line | type) == "number" and (.column | type) == "number")'
	echo "$output" | jqe '.diagnostics | any(.line == 10 and .column == 15 and .guest == "db1" and (.message | contains("APQNs 05.0000 06.0000 kept by the host")))'
}

# --- control characters, encodings and long scalars in messages ---

# names_config FILE: guests whose names hold a newline, ESC [ and U+009B (CSI)
names_config() {
	printf '%s\n' 'version: 1' 'guests:' \
		'  "g1\nx": {adapters: [5], domains: [4, 4]}' \
		'  "g2\e[31mRED\u009b": {adapters: [6], domains: [4]}' >"$1"
}

# no_raw_controls FILE: no byte of C0 but newline, no DEL, no UTF-8 C1 control
no_raw_controls() {
	! LC_ALL=C grep -q $'[\x01-\x09\x0b-\x1f\x7f]' "$1" || { echo "raw control character in:"; cat -A "$1"; return 1; }
	! LC_ALL=C grep -q $'\xc2[\x80-\x9f]' "$1" || { echo "raw C1 control in:"; cat -A "$1"; return 1; }
}

@test "numbers listed more than once: at most 10 warnings for one list, then one that counts the rest (text and --json alike)" {
	cfg=$BATS_TEST_TMPDIR/t.yaml
	out=$BATS_TEST_TMPDIR/out
	# g1's adapters: 0x05 fourteen times, 13 repeats; host.keep's domains: 2 repeats
	printf 'version: 1\nhost:\n  keep: {domains: [1, 1, 1]}\nguests:\n  g1: {adapters: [5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5], domains: [4]}\n' >"$cfg"
	status=0
	"$APMATRIX" --no-live -c "$cfg" check >"$out" 2>"$out.err" || status=$?
	cat "$out.err"
	[ "$status" -eq 0 ]
	[ "$(grep -c "guest 'g1': adapter 0x05 listed more than once (first at $cfg:5:19), ignoring the repeat\$" "$out.err")" -eq 10 ]
	[ "$(grep -c "host.keep: domain 0x01 listed more than once (first at $cfg:3:20), ignoring the repeat\$" "$out.err")" -eq 2 ]
	grep -qx "apmatrix: $cfg:5:49: warning: guest 'g1': adapter 0x05 listed more than once (first at $cfg:5:19), ignoring the repeat" "$out.err"
	grep -qx "apmatrix: $cfg:5:52: warning: guest 'g1': 3 more adapter entries repeat earlier ones (not listed), ignoring the repeats" "$out.err"
	[ "$(wc -l <"$out.err")" -eq 13 ]
	# --json: the same warnings, the count one g1's as the others
	"$APMATRIX" --no-live -c "$cfg" check --json >"$out"
	cat "$out"
	jq -e '[.diagnostics[] | select(.guest == "g1") | .severity] == [range(11) | "warning"] and
		([.diagnostics[] | select(.guest == null)] | length) == 2 and
		(.diagnostics[-1] | [.line, .column, .message]) ==
			[5, 52, "guest '"'g1'"': 3 more adapter entries repeat earlier ones (not listed), ignoring the repeats"]' "$out"
}

@test "check: a guest name with control characters is escaped in every message, one line each" {
	cfg=$BATS_TEST_TMPDIR/names.yaml
	names_config "$cfg"
	status=0
	"$APMATRIX" check --no-live -c "$cfg" >/dev/null 2>"$BATS_TEST_TMPDIR/err" || status=$?
	[ "$status" -eq 65 ]
	cat -A "$BATS_TEST_TMPDIR/err"
	no_raw_controls "$BATS_TEST_TMPDIR/err"
	# three diagnostics, three lines, each a whole message
	[ "$(wc -l <"$BATS_TEST_TMPDIR/err")" -eq 3 ]
	! grep -v '^apmatrix: ' "$BATS_TEST_TMPDIR/err"
	grep -qxF "apmatrix: $cfg:3:41: warning: guest 'g1\\x0ax': domain 0x04 listed more than once (first at $cfg:3:38), ignoring the repeat" "$BATS_TEST_TMPDIR/err"
	grep -qF "apmatrix: $cfg:4:3: guest 'g2\\x1b[31mRED\\xc2\\x9b': invalid name;" "$BATS_TEST_TMPDIR/err"
	# JSON: valid, and no string holds a raw control character
	status=0
	"$APMATRIX" check --no-live --json -c "$cfg" >"$BATS_TEST_TMPDIR/out" 2>/dev/null || status=$?
	[ "$status" -eq 65 ]
	no_raw_controls "$BATS_TEST_TMPDIR/out"
	jq -e '[.diagnostics[].message | test("[\u0000-\u001f\u007f-\u009f]")] | any | not' "$BATS_TEST_TMPDIR/out"
	jq -e '.diagnostics[1].guest == "g1\\x0ax" and ([.guests[].name] == ["g1\\x0ax", "g2\\x1b[31mRED\\xc2\\x9b"])' "$BATS_TEST_TMPDIR/out"
}

@test "show: a guest name with control characters is escaped, no escape sequence reaches the terminal" {
	cfg=$BATS_TEST_TMPDIR/names.yaml
	names_config "$cfg"
	"$APMATRIX" show --no-live -c "$cfg" >"$BATS_TEST_TMPDIR/out" 2>/dev/null || true
	cat -A "$BATS_TEST_TMPDIR/out"
	no_raw_controls "$BATS_TEST_TMPDIR/out"
	# the legend line and the guest header each hold the whole name and the UUID
	[ "$(grep -c '^  A   g1\\x0ax \+ [0-9a-f-]\{36\}  adapters 0x05  domains 0x04$' "$BATS_TEST_TMPDIR/out")" -eq 1 ]
	[ "$(grep -c '^  B   g2\\x1b\[31mRED\\xc2\\x9b  [0-9a-f-]\{36\}  adapters 0x06' "$BATS_TEST_TMPDIR/out")" -eq 1 ]
	[ "$(grep -c '^g1\\x0ax  [0-9a-f-]\{36\}  (derived from the name)$' "$BATS_TEST_TMPDIR/out")" -eq 1 ]
	! grep -q '^x ' "$BATS_TEST_TMPDIR/out"
	"$APMATRIX" show --no-live --json -c "$cfg" >"$BATS_TEST_TMPDIR/json" 2>/dev/null || true
	no_raw_controls "$BATS_TEST_TMPDIR/json"
	jq -e '[.. | strings | test("[\u0000-\u001f\u007f-\u009f]")] | any | not' "$BATS_TEST_TMPDIR/json"
}

@test "show: the legend is in columns when guest names and adapter lists differ in length" {
	cfg=$BATS_TEST_TMPDIR/legend.yaml
	printf 'version: 1\nguests:\n  ab:\n    adapters: [5]\n    domains: [1]\n  long-name-12:\n    adapters: [6, 7, 9]\n    domains: [2]\n' >"$cfg"
	"$APMATRIX" show --no-live --color never -c "$cfg" >"$BATS_TEST_TMPDIR/out"
	cat "$BATS_TEST_TMPDIR/out"
	grep -qxF "  A   ab            66f79b58-8763-5afe-b71c-64519220fdff  adapters 0x05            domains 0x01" "$BATS_TEST_TMPDIR/out"
	grep -qxF "  B   long-name-12  b42946f2-3a96-590d-87b6-9b8f14ea8083  adapters 0x06,0x07,0x09  domains 0x02" "$BATS_TEST_TMPDIR/out"
	grep -qxF "  .   not declared" "$BATS_TEST_TMPDIR/out"
}

@test "show: the 'k' legend only where a kept queue is drawn; host.keep drawn nowhere is said in one line" {
	out=$BATS_TEST_TMPDIR/out
	# card 0x03 kept whole, no guest on it: no 'k' cell, so no 'k' line, but a line saying so
	"$APMATRIX" show --no-live --color never -c "$APMATRIX_TOP/examples/apmatrix.yaml" --config-dir "$APMATRIX_TOP/examples/apmatrix.d" >"$out"
	cat "$out"
	! grep -q '^    .* k ' "$out" && ! grep -qF "  k   kept by the host" "$out"
	grep -qxF "  host.keep: adapter 0x03, every domain (no queue of it is drawn)" "$out"
	# domains on every card, and adapters x domains
	for keep in '{domains: [9, 10]}|domains 0x09,0x0a on every adapter' '{adapters: [7, 8], domains: [1]}|adapters 0x07,0x08 x domain 0x01'; do
		printf 'version: 1\nhost: {keep: %s}\nguests:\n  a: {adapters: [5], domains: [4]}\n' "${keep%%|*}" >"$BATS_TEST_TMPDIR/k.yaml"
		"$APMATRIX" show --no-live --color never -c "$BATS_TEST_TMPDIR/k.yaml" >"$out"
		grep -qxF "  host.keep: ${keep#*|} (no queue of it is drawn)" "$out" || { cat "$out"; false; }
	done
	# an empty list (an error) keeps nothing: no such line
	printf 'version: 1\nhost: {keep: {adapters: []}}\nguests:\n  a: {adapters: [5], domains: [4]}\n' >"$BATS_TEST_TMPDIR/k.yaml"
	"$APMATRIX" show --no-live --color never -c "$BATS_TEST_TMPDIR/k.yaml" >"$out" 2>/dev/null || true
	grep -q '^    05 |  A$' "$out" && ! grep -q "host.keep:" "$out" || { cat "$out"; false; }
	# 05.0005 kept and drawn: the 'k' legend, and no such line
	printf 'version: 1\nhost: {keep: {adapters: [5], domains: [5]}}\nguests:\n  a: {adapters: [5, 6], domains: [4]}\n  b: {adapters: [6], domains: [5]}\n' >"$BATS_TEST_TMPDIR/k.yaml"
	"$APMATRIX" show --no-live --color never -c "$BATS_TEST_TMPDIR/k.yaml" >"$out"
	cat "$out"
	grep -qx '    05 |  A   k' "$out"
	grep -qxF "  k   kept by the host (host.keep)" "$out"
	! grep -q "host.keep:" "$out"
}

@test "show: with 2,601 guests (codes of 4 characters, A100 on) the grid's cells and the legend's code column stay aligned" {
	cfg=$BATS_TEST_TMPDIR/many.yaml
	{
		printf 'version: 1\nguests:\n'
		for ((i = 0; i < 2601; i++)); do
			printf '  g%d: {adapters: [%d], domains: [%d]}\n' $i $((i / 64)) $((i % 64))
		done
	} >"$cfg"
	out=$BATS_TEST_TMPDIR/out
	"$APMATRIX" show --no-live --color never -c "$cfg" >"$out"
	grep -qE '^  A100 +g' "$out"
	# the legend: every guest's name, and the symbols' words, in one column
	name_cols=$(awk '/^  [A-Z][0-9]* +g[0-9]+  / { match($0, / g[0-9]+  /); print RSTART } /^  \. +not declared$/ { print index($0, " not") }' "$out" | sort -u)
	echo "legend name columns: $name_cols"
	[ "$name_cols" = 7 ]
	# the grid: cells as wide as the domain numbers above them, each a space, one code
	# right-aligned and its mark (the last one's trailing space cut)
	w=$(awk '/^  card \|/ { print index($0, "01") - index($0, "00"); exit }' "$out")
	echo "cell width: $w"
	[ "$w" -eq 6 ]
	bad=$(awk -v w="$w" '/^    [0-9a-f][0-9a-f] \|/ {
		row = substr($0, 9)
		for (i = 1; i <= length(row); i += w) {
			c = substr(row, i, w)
			if (length(c) == w ? c !~ /^ +([A-Z][0-9]*|[.!k])[ *~-]$/ : c !~ /^ +([A-Z][0-9]*|[.!k])[*~-]?$/) {
				print $0 " [" c "]"
				break
			}
		}
	}' "$out")
	[ -z "$bad" ] || { echo "misaligned: $bad"; false; }
}

@test "show GUEST on a configuration whose GUEST does not compile: its errors alone, exit 65; a GUEST it does not have: the same, as guest" {
	cfg=$BATS_TEST_TMPDIR/notmap.yaml
	printf 'version: 1\nguests:\n  guest1: [5]\n  guest2:\n    adapters: [5]\n    domains: [1]\n' >"$cfg"
	err="apmatrix: $cfg:3:11: guest 'guest1': expected a mapping, got a sequence"
	out=$BATS_TEST_TMPDIR/out
	status=0
	"$APMATRIX" show guest1 --no-live -c "$cfg" >"$out" 2>"$out.err" || status=$?
	cat "$out" "$out.err"
	[ "$status" -eq 65 ]
	[ ! -s "$out" ]
	[ "$(cat "$out.err")" = "$err" ]
	# --json: check's document with that error, at that guest, and no guest drawn
	status=0
	"$APMATRIX" show guest1 --no-live --json -c "$cfg" >"$out" 2>"$out.err" || status=$?
	[ "$status" -eq 65 ]
	[ ! -s "$out.err" ]
	jq -e '.document == "check" and .valid == false and .guests == [] and
		[.diagnostics[] | [.severity, .line, .column, .guest]] == [["error", 3, 11, "guest1"]]' "$out"
	# a guest the file does not have: the configuration's error alone, exit 65, as guest
	for cmd in show guest; do
		status=0
		"$APMATRIX" $cmd guest3 --no-live -c "$cfg" >"$out" 2>"$out.err" || status=$?
		cat "$out.err"
		[ "$status" -eq 65 ]
		[ ! -s "$out" ]
		[ "$(cat "$out.err")" = "$err" ]
	done
}

@test "show GUEST that an invalid configuration does not have: its errors, exit 65 as guest (--json: check's document with them), never \"it declares none\"; a valid one: exit 64" {
	out=$BATS_TEST_TMPDIR/out
	: >"$BATS_TEST_TMPDIR/empty.yaml"
	printf 'version: 1\nguests:\n  g1:\n    adapters: [five]\n    domains: [4]\n' >"$BATS_TEST_TMPDIR/five.yaml"
	for f in empty five; do
		cfg=$BATS_TEST_TMPDIR/$f.yaml
		for cmd in "show nosuch" "guest nosuch" "show g1x"; do
			status=0
			"$APMATRIX" --no-live -c "$cfg" $cmd >"$out" 2>"$out.err" || status=$?
			echo "$f: $cmd: $status"
			cat "$out.err"
			[ "$status" -eq 65 ]
			[ ! -s "$out" ]
			! grep -q "no guest" "$out.err"
			case $f in
			empty) [ "$(cat "$out.err")" = "apmatrix: $cfg:1:1: empty configuration; expected at least 'version: 1'" ] ;;
			five) grep -q "^apmatrix: $cfg:4:16: guest 'g1': adapter 'five' is not a number" "$out.err" ;;
			esac
		done
		status=0
		"$APMATRIX" --no-live -c "$cfg" show nosuch --json >"$out" 2>"$out.err" || status=$?
		cat "$out" "$out.err"
		[ "$status" -eq 65 ]
		[ ! -s "$out.err" ]
		jq -e '.document == "check" and .valid == false and .guests == [] and
			([.diagnostics[] | select(.severity == "error")] | length) == 1' "$out"
	done
	jq -e '.diagnostics[0].message | startswith("guest '"'g1'"': adapter '"'five'"' is not a number")' "$out"
	# a valid configuration: a usage error, said on stderr alone, also with --json
	status=0
	"$APMATRIX" --no-live -c examples/seed-two-guests.yaml show nosuch --json >"$out" 2>"$out.err" || status=$?
	cat "$out" "$out.err"
	[ "$status" -eq 64 ]
	[ ! -s "$out" ]
	[ "$(cat "$out.err")" = "apmatrix: no guest 'nosuch' in the configuration (it declares guest1, guest2)" ]
}

@test "anchors, aliases and YAML tags inside a guest's definition: the message starts with the guest, as every other message about it (text and --json)" {
	cfg=$BATS_TEST_TMPDIR/t.yaml
	out=$BATS_TEST_TMPDIR/out
	printf 'version: 1\nguests:\n  g1:\n    adapters: &a [5]\n    domains: [4]\n  g2:\n    adapters: [6]\n    domains: *a\n  g3:\n    adapters: !!seq [7]\n    domains: [4]\n  g4: !!map\n    adapters: [8]\n    domains: [4]\n' >"$cfg"
	status=0
	"$APMATRIX" --no-live -c "$cfg" check >"$out" 2>"$out.err" || status=$?
	cat "$out.err"
	[ "$status" -eq 65 ]
	[ "$(cat "$out.err")" = "apmatrix: $cfg:4:15: guest 'g1': anchors are not supported (anchor 'a')
apmatrix: $cfg:8:14: guest 'g2': aliases are not supported (alias 'a')
apmatrix: $cfg:10:15: guest 'g3': YAML tags are not supported (tag '!!seq')
apmatrix: $cfg:12:7: guest 'g4': YAML tags are not supported (tag '!!map')" ]
	"$APMATRIX" --no-live -c "$cfg" check --json >"$out" || true
	cat "$out"
	jq -e '[.diagnostics[] | . as $d | [$d.guest, ($d.message | startswith("guest '"'"'" + $d.guest + "'"'"': "))]] ==
		[["g1", true], ["g2", true], ["g3", true], ["g4", true]]' "$out"
	# outside a guest there is no guest to name: the host's is named as the host (its own test below)
	printf 'version: 1\nhost: &h\n  masks: auto\nguests: {}\n' >"$cfg"
	status=0
	"$APMATRIX" --no-live -c "$cfg" check --json >"$out" 2>"$out.err" || status=$?
	cat "$out" "$out.err"
	[ "$status" -eq 65 ]
	jq -e '[.diagnostics[] | .guest] == [null]' "$out"
}

@test "anchors, aliases and YAML tags inside host.keep (its value included): the message starts with host.keep, as its other messages; host.masks and guests after it are not host.keep's" {
	cfg=$BATS_TEST_TMPDIR/t.yaml
	out=$BATS_TEST_TMPDIR/out
	printf 'version: 1\nhost:\n  keep: &k\n    adapters: &a [5]\n    domains: [*a, !!int 4]\n  masks: &m auto\nguests:\n  g1:\n    adapters: *k\n    domains: [4]\n' >"$cfg"
	status=0
	"$APMATRIX" --no-live -c "$cfg" check >"$out" 2>"$out.err" || status=$?
	cat "$out.err"
	[ "$status" -eq 65 ]
	[ "$(cat "$out.err")" = "apmatrix: $cfg:3:9: host.keep: anchors are not supported (anchor 'k')
apmatrix: $cfg:4:15: host.keep: anchors are not supported (anchor 'a')
apmatrix: $cfg:5:15: host.keep: aliases are not supported (alias 'a')
apmatrix: $cfg:5:19: host.keep: YAML tags are not supported (tag '!!int')
apmatrix: $cfg:6:10: host.masks: anchors are not supported (anchor 'm')
apmatrix: $cfg:9:15: guest 'g1': aliases are not supported (alias 'k')" ]
	"$APMATRIX" --no-live -c "$cfg" check --json >"$out" || true
	cat "$out"
	jq -e '[.diagnostics[] | [.line, .guest]] == [[3, null], [4, null], [5, null], [5, null], [6, null], [9, "g1"]]' "$out"
	# host.keep given as an alias: the same
	printf 'version: 1\nx: &k {adapters: [5]}\nhost:\n  keep: *k\nguests: {}\n' >"$cfg"
	status=0
	"$APMATRIX" --no-live -c "$cfg" check >"$out" 2>"$out.err" || status=$?
	cat "$out.err"
	[ "$status" -eq 65 ]
	grep -qx "apmatrix: $cfg:4:9: host.keep: aliases are not supported (alias 'k')" "$out.err"
}

@test "anchors, aliases and YAML tags on host, inside it or on host.masks: the message starts with host or host.masks, as host.keep's do" {
	cfg=$BATS_TEST_TMPDIR/t.yaml
	out=$BATS_TEST_TMPDIR/out
	printf 'version: 1\nhost: &h\n  &k masks: !!str auto\n  bogus: &b 1\nguests:\n  g1: {adapters: [5], domains: [4]}\n' >"$cfg"
	status=0
	"$APMATRIX" --no-live -c "$cfg" check >"$out" 2>"$out.err" || status=$?
	cat "$out.err"
	[ "$status" -eq 65 ]
	[ "$(cat "$out.err")" = "apmatrix: $cfg:2:7: host: anchors are not supported (anchor 'h')
apmatrix: $cfg:3:3: host: anchors are not supported (anchor 'k')
apmatrix: $cfg:3:13: host.masks: YAML tags are not supported (tag '!!str')
apmatrix: $cfg:4:3: host: unknown key 'bogus' (valid keys: keep, masks)
apmatrix: $cfg:4:10: host: anchors are not supported (anchor 'b')" ]
	"$APMATRIX" --no-live -c "$cfg" check --json >"$out" || true
	cat "$out"
	jq -e '[.diagnostics[] | [.line, .guest]] == [[2, null], [3, null], [3, null], [4, null], [4, null]]' "$out"
	# an alias as host, as host.masks, and a tag on host; after host.keep, host.masks is named again
	printf 'version: 1\nhost: !!map\n  keep: {adapters: [1]}\n  masks: &m auto\nguests: {}\n' >"$cfg"
	status=0
	"$APMATRIX" --no-live -c "$cfg" check >"$out" 2>"$out.err" || status=$?
	cat "$out.err"
	[ "$status" -eq 65 ]
	[ "$(cat "$out.err")" = "apmatrix: $cfg:2:7: host: YAML tags are not supported (tag '!!map')
apmatrix: $cfg:4:10: host.masks: anchors are not supported (anchor 'm')" ]
	printf 'version: 1\nx: &a off\nhost:\n  masks: *a\n' >"$cfg"
	status=0
	"$APMATRIX" --no-live -c "$cfg" check >"$out" 2>"$out.err" || status=$?
	cat "$out.err"
	[ "$status" -eq 65 ]
	grep -qx "apmatrix: $cfg:4:10: host.masks: aliases are not supported (alias 'a')" "$out.err"
	printf 'version: 1\nx: &a {masks: off}\nhost: *a\n' >"$cfg"
	status=0
	"$APMATRIX" --no-live -c "$cfg" check >"$out" 2>"$out.err" || status=$?
	cat "$out.err"
	[ "$status" -eq 65 ]
	grep -qx "apmatrix: $cfg:3:7: host: aliases are not supported (alias 'a')" "$out.err"
}

@test "anchors, aliases and YAML tags on version, on guests and on a guest's name: the message starts with version, guests or the guest, as host's do (text and --json)" {
	cfg=$BATS_TEST_TMPDIR/t.yaml
	out=$BATS_TEST_TMPDIR/out
	printf 'version: &v 1\nguests: !!map\n  &n g1: {adapters: [5], domains: [4]}\n  !!str g2: {adapters: [6], domains: [4]}\n' >"$cfg"
	status=0
	"$APMATRIX" --no-live -c "$cfg" check >"$out" 2>"$out.err" || status=$?
	cat "$out.err"
	[ "$status" -eq 65 ]
	[ "$(cat "$out.err")" = "apmatrix: $cfg:1:10: version: anchors are not supported (anchor 'v')
apmatrix: $cfg:2:9: guests: YAML tags are not supported (tag '!!map')
apmatrix: $cfg:3:3: guest 'g1': anchors are not supported (anchor 'n')
apmatrix: $cfg:4:3: guest 'g2': YAML tags are not supported (tag '!!str')" ]
	"$APMATRIX" --no-live -c "$cfg" check --json >"$out" || true
	cat "$out"
	jq -e '[.diagnostics[] | [.line, .column, .guest]] == [[1, 10, null], [2, 9, null], [3, 3, "g1"], [4, 3, "g2"]]' "$out"
	# a tag on version, an anchor on guests, an alias as a guest's name (no name to give: guests)
	printf 'x: &a 1\nversion: !!int 1\nguests: &g\n  *a : {adapters: [5], domains: [4]}\n' >"$cfg"
	status=0
	"$APMATRIX" --no-live -c "$cfg" check >"$out" 2>"$out.err" || status=$?
	cat "$out.err"
	[ "$status" -eq 65 ]
	[ "$(cat "$out.err")" = "apmatrix: $cfg:1:1: unknown key 'x' (valid keys: version, host, guests)
apmatrix: $cfg:1:4: anchors are not supported (anchor 'a')
apmatrix: $cfg:2:10: version: YAML tags are not supported (tag '!!int')
apmatrix: $cfg:3:9: guests: anchors are not supported (anchor 'g')
apmatrix: $cfg:4:3: guests: aliases are not supported (alias 'a')" ]
	# aliases as version and as guests
	printf 'x: &a 1\nversion: *a\nguests: *a\n' >"$cfg"
	status=0
	"$APMATRIX" --no-live -c "$cfg" check >"$out" 2>"$out.err" || status=$?
	cat "$out.err"
	[ "$status" -eq 65 ]
	grep -qx "apmatrix: $cfg:2:10: version: aliases are not supported (alias 'a')" "$out.err"
	grep -qx "apmatrix: $cfg:3:9: guests: aliases are not supported (alias 'a')" "$out.err"
	# a guest given twice: its name's and the repeat's are the guest's too
	printf 'version: 1\nguests:\n  g1: {adapters: [5], domains: [4]}\n  &d g1: &e\n    adapters: !!seq [6]\n    domains: *e\n' >"$cfg"
	status=0
	"$APMATRIX" --no-live -c "$cfg" check >"$out" 2>"$out.err" || status=$?
	cat "$out.err"
	[ "$status" -eq 65 ]
	[ "$(cat "$out.err")" = "apmatrix: $cfg:4:3: guest 'g1': anchors are not supported (anchor 'd')
apmatrix: $cfg:4:3: guest 'g1': defined twice (first at $cfg:3:3)
apmatrix: $cfg:4:10: guest 'g1': anchors are not supported (anchor 'e')
apmatrix: $cfg:5:15: guest 'g1': YAML tags are not supported (tag '!!seq')
apmatrix: $cfg:6:14: guest 'g1': aliases are not supported (alias 'e')" ]
	# in --json, every one of them names the guest
	"$APMATRIX" --no-live -c "$cfg" check --json >"$out" || true
	jqe '(.diagnostics | length) == 5 and all(.diagnostics[]; .guest == "g1")' "$out"
}

@test "an empty -c/--config or --config-dir is a usage error naming the option, not a file named ''" {
	local -a runs=(
		"-c '' --no-live check"
		"--config= --no-live show"
		"-c examples/seed-two-guests.yaml --config-dir '' --no-live check"
	)
	for args in "${runs[@]}"; do
		status=0
		out=$(eval "\"\$APMATRIX\" $args" 2>&1) || status=$?
		echo "$args: $status: $out"
		[ "$status" -eq 64 ]
		case $args in
		*config-dir*) [ "$(sed -n 1p <<<"$out")" = "apmatrix: invalid --config-dir '': expected a directory name" ] ;;
		*) [ "$(sed -n 1p <<<"$out")" = "apmatrix: invalid --config '': expected a file name, or - for standard input" ] ;;
		esac
	done
}

@test "colour on a terminal: NO_COLOR set and not empty turns it off, an empty NO_COLOR does not (no-color.org)" {
	command -v script >/dev/null || skip "script (util-linux) not installed"
	unset NO_COLOR
	cmd=$(printf '%q ' "$APMATRIX" --no-live -c examples/seed-two-guests.yaml show)
	out=$(script -qec "$cmd" /dev/null)
	[[ $out == *$'\e['* ]]
	out=$(NO_COLOR= script -qec "$cmd" /dev/null)
	[[ $out == *$'\e['* ]]
	out=$(NO_COLOR=1 script -qec "$cmd" /dev/null)
	[[ $out != *$'\e['* ]]
	[[ $out == *guest1* ]]
}

# refused_guest CFG GUEST ERR JQ: a configuration CFG whose guest GUEST is a
# YAML node apmatrix refuses (an alias, an anchor).  check says ERR, exit 65;
# check --json and show GUEST --json print nothing on stderr and a document
# whose diagnostics JQ accepts, with no guest drawn, exit 65; show GUEST says
# ERR and draws nothing, exit 65.  check's stderr is left in $out.check, show
# GUEST's in $out.err.
refused_guest() {
	local cfg=$1 guest=$2 err=$3 filter=$4 cmd
	out=$BATS_TEST_TMPDIR/out
	status=0
	"$APMATRIX" check --no-live -c "$cfg" >"$out" 2>"$out.check" || status=$?
	cat "$out.check"
	[ "$status" -eq 65 ]
	grep -qxF "$err" "$out.check"
	for cmd in check "show $guest"; do
		status=0
		"$APMATRIX" $cmd --no-live --json -c "$cfg" >"$out" 2>"$out.err" || status=$?
		echo "$cmd: $(cat "$out")"
		[ "$status" -eq 65 ]
		[ ! -s "$out.err" ]
		jq -e "$filter" "$out"
	done
	jq -e '.guests == []' "$out"
	status=0
	"$APMATRIX" show "$guest" --no-live -c "$cfg" >"$out" 2>"$out.err" || status=$?
	echo "show $guest:"
	cat "$out" "$out.err"
	[ "$status" -eq 65 ]
	[ ! -s "$out" ]
	grep -qxF "$err" "$out.err"
}

@test "a guest given as a YAML alias: the error names it (text and --json), and show GUEST gives that error alone, exit 65" {
	cfg=$BATS_TEST_TMPDIR/alias.yaml
	printf 'version: 1\nguests:\n  a: &x {adapters: [1], domains: [2]}\n  b: *x\n' >"$cfg"
	refused_guest "$cfg" b "apmatrix: $cfg:4:6: guest 'b': aliases are not supported (alias 'x')" \
		'[.diagnostics[] | select(.guest == "b") | [.severity, .line, .column, .message]] ==
			[["error", 4, 6, "guest '"'b'"': aliases are not supported (alias '"'x'"')"]]'
	# show b: b's error, not "no guest 'b'; did you mean 'a'?"
	! grep -q "no guest" "$out.err"
}

@test "an anchor on a guest's own value: the error names the guest (text and --json), and show GUEST gives that error alone, exit 65" {
	cfg=$BATS_TEST_TMPDIR/anchor.yaml
	printf 'version: 1\nguests:\n  a: &x\n    adapters: [1]\n    domains: [2]\n  c: {adapters: [3], domains: [4]}\n' >"$cfg"
	err="apmatrix: $cfg:3:6: guest 'a': anchors are not supported (anchor 'x')"
	refused_guest "$cfg" a "$err" \
		'[.diagnostics[] | [.severity, .line, .column, .guest, .message]] ==
			[["error", 3, 6, "a", "guest '"'a'"': anchors are not supported (anchor '"'x'"')"]]'
	# a's error alone, from check and from show a
	[ "$(cat "$out.check")" = "$err" ]
	[ "$(cat "$out.err")" = "$err" ]
	# c, which compiles, is drawn
	status=0
	"$APMATRIX" show c --no-live -c "$cfg" >"$out" 2>"$out.err" || status=$?
	[ "$status" -eq 65 ]
	grep -q '^c  ' "$out"
}

@test "show and check: the UUID derived from an escaped name is the one of the name as written" {
	cfg=$BATS_TEST_TMPDIR/names.yaml
	names_config "$cfg"
	# UUIDv5(namespace, "g1\nx"): as before names were kept escaped
	"$APMATRIX" check --no-live --json -c "$cfg" >"$BATS_TEST_TMPDIR/json" 2>/dev/null || true
	jq -e '.guests[0].uuid == "186f0989-6a39-5b8e-bccf-e8de1ad866bf"' "$BATS_TEST_TMPDIR/json"
}

@test "check: invalid UTF-8 names the offending byte, never 0xFFFFFFFF" {
	hint='; a configuration file is UTF-8 text (if it is Latin-1: iconv -f latin1 -t utf8)'
	printf 'version: 1\n# caf\xe9\n' >"$BATS_TEST_TMPDIR/latin1.yaml"
	run "$APMATRIX" check --no-live -c "$BATS_TEST_TMPDIR/latin1.yaml"
	[ "$status" -eq 65 ]
	[ "$output" = "apmatrix: $BATS_TEST_TMPDIR/latin1.yaml:2:6: invalid UTF-8 at byte 0xE9$hint" ]
	printf 'version: 1\n# \xc3' >"$BATS_TEST_TMPDIR/cut.yaml"
	run "$APMATRIX" check --no-live -c "$BATS_TEST_TMPDIR/cut.yaml"
	[ "$status" -eq 65 ]
	[ "$output" = "apmatrix: $BATS_TEST_TMPDIR/cut.yaml:2:3: invalid UTF-8 at byte 0xC3$hint" ]
	run "$APMATRIX" check --no-live -c - <"$BATS_TEST_TMPDIR/cut.yaml"
	[ "$status" -eq 65 ]
	[ "$output" = "apmatrix: <stdin>:2:3: invalid UTF-8 at byte 0xC3$hint" ]
}

@test "check: a UTF-16 file (with its byte order mark, either order) is refused at 1:1 with the iconv that converts it; a UTF-8 one is fine" {
	f=$BATS_TEST_TMPDIR/u16.yaml
	hint='; a configuration file is UTF-8 text (this one starts as UTF-16 does: iconv -f utf16 -t utf8)'
	(printf '\xff\xfe'; iconv -f utf-8 -t utf-16le "$APMATRIX_TOP/examples/seed-two-guests.yaml") >"$f"
	run "$APMATRIX" check --no-live -c "$f"
	[ "$status" -eq 65 ]
	[ "$output" = "apmatrix: $f:1:1: invalid UTF-8 at byte 0xFF$hint" ]
	(printf '\xfe\xff'; iconv -f utf-8 -t utf-16be "$APMATRIX_TOP/examples/seed-two-guests.yaml") >"$f"
	run "$APMATRIX" check --no-live -c "$f"
	[ "$status" -eq 65 ]
	[ "$output" = "apmatrix: $f:1:1: invalid UTF-8 at byte 0xFE$hint" ]
	# the advice works
	iconv -f utf16 -t utf8 "$f" >"$BATS_TEST_TMPDIR/u8.yaml"
	run "$APMATRIX" check --no-live -q -c "$BATS_TEST_TMPDIR/u8.yaml"
	[ "$status" -eq 0 ]
}

@test "check: of -q and -v the last wins: -q -v prints the summary, -v -q nothing" {
	run --separate-stderr "$APMATRIX" check --no-live -c "$APMATRIX_TOP/examples/seed-two-guests.yaml" -q -v
	[ "$status" -eq 0 ]
	[[ "$output" == "ok: 2 guests, 6 APQNs, no conflicts"* ]]
	run --separate-stderr "$APMATRIX" check --no-live -c "$APMATRIX_TOP/examples/seed-two-guests.yaml" -v -q
	[ "$status" -eq 0 ]
	[ -z "$output" ] && [ -z "$stderr" ]
}

@test "check: a Latin-1 byte before more text is named at its own position and value, not libyaml's next byte" {
	hint='; a configuration file is UTF-8 text (if it is Latin-1: iconv -f latin1 -t utf8)'
	f=$BATS_TEST_TMPDIR/latin1.yaml
	# libyaml: "2:7: invalid trailing UTF-8 octet (0x0A)", the newline after the byte
	printf 'version: 1\n# caf\xe9\nguests:\n  g:\n    adapters: [5]\n    domains: [4]\n' >"$f"
	run "$APMATRIX" check --no-live -c "$f"
	[ "$status" -eq 65 ]
	[ "$output" = "apmatrix: $f:2:6: invalid UTF-8 at byte 0xE9$hint" ]
	# a three-byte lead whose second trailing byte is wrong: the lead, not the byte libyaml stopped at
	printf 'version: 1\n# \xe2\x82x\n' >"$f"
	run "$APMATRIX" check --no-live -c "$f"
	[ "$output" = "apmatrix: $f:2:3: invalid UTF-8 at byte 0xE2$hint" ]
	# a stray trailing byte after a whole character: that byte
	printf 'version: 1\n# \xc3\xa9\x80\n' >"$f"
	run "$APMATRIX" check --no-live -c "$f"
	[ "$output" = "apmatrix: $f:2:4: invalid UTF-8 at byte 0x80$hint" ]
	run "$APMATRIX" check --no-live --json -c "$f"
	[ "$status" -eq 65 ]
	echo "$output" | jqe '.diagnostics | length == 1 and .[0].line == 2 and .[0].column == 4'
}

@test "check: a lone dash is a range without a lower end, a minus sign before digits is negative" {
	printf '%s\n' 'version: 1' 'guests:' '  g1:' '    adapters: [5]' \
		'    domains: ["-", "- 5", " -5", "-5", "5-", -]' >"$BATS_TEST_TMPDIR/dash.yaml"
	run "$APMATRIX" check --no-live -c "$BATS_TEST_TMPDIR/dash.yaml"
	[ "$status" -eq 65 ]
	f=$BATS_TEST_TMPDIR/dash.yaml
	[ "${lines[0]}" = "apmatrix: $f:5:15: guest 'g1': domain range '-' has no lower end; write LOW-HIGH, such as \"0x04-0x07\"" ]
	[ "${lines[1]}" = "apmatrix: $f:5:20: guest 'g1': domain range '- 5' has no lower end; write LOW-HIGH, such as \"0x04-0x07\"" ]
	[ "${lines[2]}" = "apmatrix: $f:5:27: guest 'g1': domain '-5' is negative; numbers are 0x00-0xff" ]
	[ "${lines[3]}" = "apmatrix: $f:5:34: guest 'g1': domain '-5' is negative; numbers are 0x00-0xff" ]
	[ "${lines[4]}" = "apmatrix: $f:5:40: guest 'g1': domain range '5-' has no upper end; write LOW-HIGH, such as \"0x04-0x07\"" ]
	[ "${lines[5]}" = "apmatrix: $f:5:46: guest 'g1': domain '-' is not a number; write decimal (71) or 0x hex (0x47)" ]
	[ "${#lines[@]}" -eq 6 ]
}

@test "check: a version key without a usable value is not also 'missing'" {
	for v in '' ' ~' ' [1]'; do
		printf 'version:%s\n' "$v" >"$BATS_TEST_TMPDIR/v.yaml"
		run "$APMATRIX" check --no-live -c "$BATS_TEST_TMPDIR/v.yaml"
		echo "version:$v -> $output"
		[ "$status" -eq 65 ]
		[ "${#lines[@]}" -eq 1 ]
		[[ "${lines[0]}" == *": version: expected a scalar, got "* ]]
	done
}

@test "check: an unknown key in host.keep is not also 'no adapters and no domains'" {
	printf 'version: 1\nhost: {keep: {control-domains: [5]}}\n' >"$BATS_TEST_TMPDIR/k.yaml"
	run "$APMATRIX" check --no-live -c "$BATS_TEST_TMPDIR/k.yaml"
	[ "$status" -eq 65 ]
	[ "$output" = "apmatrix: $BATS_TEST_TMPDIR/k.yaml:2:15: host.keep: unknown key 'control-domains' (valid keys: adapters, domains)" ]
	# with no key at all it is still said
	printf 'version: 1\nhost: {keep: {}}\n' >"$BATS_TEST_TMPDIR/k.yaml"
	run "$APMATRIX" check --no-live -c "$BATS_TEST_TMPDIR/k.yaml"
	[ "$status" -eq 65 ]
	[[ "$output" == *"host.keep: no adapters and no domains given"* ]]
}

@test "check: over-long names, keys and values are reported once, two different long names are no duplicates" {
	a257=$(head -c 257 /dev/zero | tr '\0' a) a258=$(head -c 258 /dev/zero | tr '\0' a)
	f=$BATS_TEST_TMPDIR/long.yaml
	printf 'version: 1\nguests:\n  %s: {adapters: [1], domains: [1]}\n  %s: {adapters: [2], domains: [2]}\n' "$a257" "$a258" >"$f"
	run "$APMATRIX" check --no-live -c "$f"
	[ "$status" -eq 65 ]
	[ "${lines[0]}" = "apmatrix: $f:3:3: guest '${a257:0:64}...': a key or value of 257 bytes; the limit is 256" ]
	[ "${lines[1]}" = "apmatrix: $f:4:3: guest '${a258:0:64}...': a key or value of 258 bytes; the limit is 256" ]
	[ "${#lines[@]}" -eq 2 ]
	# the value of a long name is still read: its errors are said, the name shown cut
	printf 'version: 1\nguests:\n  %s: {adapters: [1], domains: [0x100]}\n' "$a257" >"$f"
	run "$APMATRIX" check --no-live -c "$f"
	[ "$status" -eq 65 ]
	[ "${#lines[@]}" -eq 2 ]
	[[ "${lines[1]}" == "apmatrix: $f:3:288: guest 'aaaa"*"...': domain '0x100' out of range 0x00-0xff" ]]
	# a long UUID, key and list entry: only their length
	x300=$(head -c 300 /dev/zero | tr '\0' 0)
	for body in "uuid: \"$x300\"" "$x300: 5" "control-domains: [\"$x300\"]"; do
		printf 'version: 1\nguests:\n  g1: {adapters: [1], domains: [1], %s}\n' "$body" >"$f"
		run "$APMATRIX" check --no-live -c "$f"
		echo "${body:0:20} -> $output"
		[ "$status" -eq 65 ]
		[ "${#lines[@]}" -eq 1 ]
		[[ "$output" == *": guest 'g1': a key or value of 30"[02]" bytes; the limit is 256" ]]
	done
}

@test "--config-dir: a guest defined in the main file and again in a drop-in: the error names the guest in --json too (show and check)" {
	tmp=$BATS_TEST_TMPDIR
	printf 'version: 1\nguests:\n  a:\n    adapters: [1]\n    domains: [1]\n' >"$tmp/main.yaml"
	mkdir "$tmp/dd"
	printf 'guests:\n  a:\n    adapters: [2]\n    domains: [2]\n' >"$tmp/dd/20-a.yaml"
	msg="guest 'a': already defined at $tmp/main.yaml:3:3; a guest is defined in one file only"
	run --separate-stderr "$APMATRIX" --no-live -c "$tmp/main.yaml" --config-dir "$tmp/dd" check
	[ "$status" -eq 65 ]
	[ "$stderr" = "apmatrix: $tmp/dd/20-a.yaml:2:3: $msg" ]
	for cmd in check show; do
		run --separate-stderr "$APMATRIX" -c "$tmp/main.yaml" --config-dir "$tmp/dd" --no-live --json $cmd
		echo "$cmd: $output"
		[ "$status" -eq 65 ]
		F=$tmp/dd/20-a.yaml M=$msg jqe '[.diagnostics[] | select(.message == $ENV.M)] == [{"severity": "error", "file": $ENV.F, "line": 2, "column": 3, "guest": "a", "message": $ENV.M}]' <<<"$output"
	done
}

# --- a file cut short by a YAML syntax error ---

@test "a YAML syntax error is said alone: what was read before it gets no semantic error (a key indented one space short is no missing key), check, show and --json alike" {
	f=$BATS_TEST_TMPDIR/indent.yaml
	printf 'version: 1\nguests:\n  guest1:\n    adapters: [0x05]\n   domains: [0x04]\n' >"$f"
	err="apmatrix: $f:5:4: YAML syntax error: did not find expected key (while parsing a block mapping at 3:3)"
	for cmd in check show "show guest1"; do
		run --separate-stderr "$APMATRIX" --no-live -c "$f" $cmd
		echo "$cmd: $output / $stderr"
		[ "$status" -eq 65 ]
		[ "$stderr" = "$err" ]
		[ -z "$output" ]
	done
	for cmd in check show; do
		run --separate-stderr "$APMATRIX" --no-live --json -c "$f" $cmd
		echo "$cmd --json: $output"
		[ "$status" -eq 65 ]
		[ -z "$stderr" ]
		M=${err#apmatrix: $f:5:4: } jqe '.valid == false and .guests == [] and (.diagnostics | length == 1 and .[0].line == 5 and .[0].column == 4 and .[0].message == $ENV.M)' <<<"$output"
	done
	# what compile would say of the part read (an overlap, an invalid UUID and
	# name, a repeat, a guest without domains) is not said; a drop-in's
	# syntax error cuts the whole configuration short, the main file too
	cat >"$BATS_TEST_TMPDIR/main.yaml" <<'YAML'
version: 1
host: {keep: {adapters: [3, 3]}}
guests:
  a: {adapters: [1], domains: [1], uuid: x}
  b: {adapters: [1], domains: [1]}
  "c d": {adapters: [3]}
YAML
	mkdir "$BATS_TEST_TMPDIR/dd"
	printf 'guests:\n  e: {adapters: [2], domains: [2]\n' >"$BATS_TEST_TMPDIR/dd/50-e.yaml"
	run --separate-stderr "$APMATRIX" --no-live -c "$BATS_TEST_TMPDIR/main.yaml" --config-dir "$BATS_TEST_TMPDIR/dd" check
	echo "$stderr"
	[ "$status" -eq 65 ]
	[ "$stderr" = "apmatrix: $BATS_TEST_TMPDIR/dd/50-e.yaml:3:1: YAML syntax error: did not find expected ',' or '}' (while parsing a flow mapping at 2:6)" ]
	# the reader's own errors before the construct the syntax error breaks stay: they are true whatever follows
	printf 'version: 1\nhost: {masks: maybe}\nguests:\n  g:\n    adapters: [5]\n   domains: [4]\n' >"$f"
	run --separate-stderr "$APMATRIX" --no-live -c "$f" check
	printf '%s\n' "${stderr_lines[@]}"
	[ "$status" -eq 65 ]
	[ "${#stderr_lines[@]}" -eq 2 ]
	[ "${stderr_lines[0]}" = "apmatrix: $f:2:15: host.masks: expected 'auto' or 'off', got 'maybe'" ]
	[[ "${stderr_lines[1]}" == "apmatrix: $f:6:4: YAML syntax error: "* ]]
}

@test "check: a list entry of the wrong kind says 'an adapter', 'a domain', 'a control domain'" {
	f=$BATS_TEST_TMPDIR/nest.yaml
	printf 'version: 1\nhost:\n  keep:\n    domains: [[7]]\nguests:\n  g:\n    adapters: [[5]]\n    domains: [{}]\n    control-domains: [[6]]\n' >"$f"
	run --separate-stderr "$APMATRIX" --no-live -c "$f" check
	printf '%s\n' "${stderr_lines[@]}"
	[ "$status" -eq 65 ]
	[ "${stderr_lines[0]}" = "apmatrix: $f:4:15: host.keep: expected a domain (a number or a \"LOW-HIGH\" range), got a sequence" ]
	[ "${stderr_lines[1]}" = "apmatrix: $f:7:16: guest 'g': expected an adapter (a number or a \"LOW-HIGH\" range), got a sequence" ]
	[ "${stderr_lines[2]}" = "apmatrix: $f:8:15: guest 'g': expected a domain (a number or a \"LOW-HIGH\" range), got a mapping" ]
	[ "${stderr_lines[3]}" = "apmatrix: $f:9:23: guest 'g': expected a control domain (a number or a \"LOW-HIGH\" range), got a sequence" ]
	[ "${#stderr_lines[@]}" -eq 4 ]
}
