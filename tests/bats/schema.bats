#!/usr/bin/env bats
# The JSON Schemas under schema/ (issue 8): every example and every golden
# case gets the same verdict from a real JSON Schema 2020-12 validator as
# from `apmatrix check`, except the cases listed below, whose fault JSON
# Schema cannot see; and the --json documents of check, diff and status
# match their schemas.  The validator is ajv 8 when .ci/run could install it
# from the npm registry, else Debian's python3-jsonschema; the test output
# says which ran, and with neither the tests fail rather than skip.

load helpers

VALIDATE=$TOP/tests/lib/schema-validate
Y2J=$TOP/tests/lib/yaml2json
S=$TOP/schema

# Bad cases that are valid JSON Schema instances: the data is well-formed,
# the fault is in how it was written or in how parts relate.  (How a number
# was written, 047, +5, 5.0, version: 0x1, is not in this list: yaml2json
# keeps such scalars as their text, see there, so the schema refuses them;
# an editor that loads YAML 1.2 numbers cannot.)
declare -gA SEMANTIC=(
	[bad-anchor-alias]="anchors and aliases: the YAML loader resolves them, the schema sees plain data"
	[bad-duplicate-key]="a duplicate key: the YAML loader keeps one value, the schema never sees the other"
	[bad-duplicate-top-key]="a duplicate key: the YAML loader keeps one value, the schema never sees the other"
	[bad-duplicate-guest]="a guest declared twice is a duplicate key: the loader keeps one"
	[bad-yaml-tag]="a YAML tag (!!int 5): the loader applies it, the schema sees the number"
	[bad-range-unquoted]="an unquoted range: after loading it is the same string as a quoted one"
	[bad-range-reversed]="LOW > HIGH in \"0x07-0x04\": a pattern cannot compare two numbers"
	[bad-duplicate-number-warning]="an APQN given to two guests (overlap across guests)"
	[bad-overlap-many-apqns]="an APQN given to two guests (overlap across guests)"
	[bad-overlap-seed-example2]="an APQN given to two guests (overlap across guests)"
	[bad-overlap-three-guests]="an APQN given to two guests (overlap across guests)"
	[bad-dropin-overlap]="an APQN given to two guests in different files"
	[bad-dropin-guest-twice]="a guest defined in two files: each file alone is valid"
	[bad-dropin-host-twice]="host defined in two files: each file alone is valid"
	[bad-uuid-duplicate]="two guests with the same uuid: uniqueness across entries"
	[bad-uuid-duplicate-derived]="a uuid equal to another guest's derived (SHA-1 name-based) UUID"
	[bad-host-keep-conflict]="a guest APQN inside host.keep: relation between two sections"
	[bad-host-keep-whole-card]="a guest APQN inside host.keep: relation between two sections"
)
# examples that are meant to fail `apmatrix check`, and why the schema accepts them
declare -gA SEMANTIC_EXAMPLES=(
	[seed-example2-invalid.yaml]="the 2017 review's Example 2: two guests share APQN 05.0006 (overlap)"
)

setup() {
	W=$BATS_TEST_TMPDIR
}

# verdict SCHEMA YAML: "valid", "invalid: why" or "yaml: why" for one file
verdict() {
	local j="$W/$(basename "$2").$RANDOM.json" out
	if ! out=$("$Y2J" "$2" 2>&1 >"$j"); then
		echo "yaml: $out"
		return
	fi
	out=$("$VALIDATE" "$1" "$j") || { echo "validator failed: $out"; return 1; }
	sed -n '2s/^\(valid\|invalid\) [^:]*/\1/p' <<<"$out"
}

# case_verdict DIR: the schema's verdict on a case: all of its files valid?
case_verdict() {
	local v f
	v=$(verdict "$S/apmatrix.schema.json" "$1/config.yaml") || return 1
	[ "$v" = valid ] || { echo "$v"; return; }
	for f in "$1"/apmatrix.d/*.yaml; do
		[ -f "$f" ] || continue
		v=$(verdict "$S/apmatrix-dropin.schema.json" "$f") || return 1
		[ "$v" = valid ] || { echo "$(basename "$f"): $v"; return; }
	done
	echo valid
}

# c_verdict DIR: 0 when apmatrix check accepts the case
c_verdict() {
	local args=(-c "$1/config.yaml")
	[ -d "$1/apmatrix.d" ] && args+=(--config-dir "$1/apmatrix.d")
	"$APMATRIX" "${args[@]}" --no-live check >/dev/null 2>&1
}

@test "schema: a real validator runs (ajv from npm, else python3-jsonschema) and accepts the schemas themselves" {
	run "$VALIDATE" "$S/apmatrix.schema.json"
	echo "$output"
	assert_success
	[[ ${lines[0]} == "validator: ajv 8."* || ${lines[0]} == "validator: python3-jsonschema 4."* ]]
	echo "# ${lines[0]}" >&3
	# every schema compiles (ajv in strict mode rejects unknown keywords)
	for s in "$S"/*.schema.json; do
		run "$VALIDATE" "$s"
		assert_success
		jqe '."$schema" == "https://json-schema.org/draft/2020-12/schema"' "$s" >/dev/null
	done
	# the drop-in schema is the main one with version optional and an empty
	# file (null) allowed, which apmatrix check warns about and ignores
	diff <(jq -S 'del(.title, .description, .required, .type)' "$S/apmatrix.schema.json") \
		<(jq -S 'del(.title, .description, .required, .type)' "$S/apmatrix-dropin.schema.json")
	[ "$(jq -c .required "$S/apmatrix.schema.json")" = '["version"]' ]
	[ "$(jq -c .type "$S/apmatrix.schema.json")" = '"object"' ]
	[ "$(jq -c .type "$S/apmatrix-dropin.schema.json")" = '["object","null"]' ]
	# and it rejects what it should: a validator that said "valid" to everything would fail here
	printf 'version: 1\nguests:\n  g: {adapters: [256], domains: [1]}\n' >"$W/bad.yaml"
	[[ $(verdict "$S/apmatrix.schema.json" "$W/bad.yaml") == invalid* ]]
}

@test "schema: every example validates, and agrees with apmatrix check" {
	n=0
	for f in "$EXAMPLES"/*.yaml "$EXAMPLES"/apmatrix.d/*.yaml; do
		s=$S/apmatrix.schema.json
		[[ $f == */apmatrix.d/* ]] && s=$S/apmatrix-dropin.schema.json
		v=$(verdict "$s" "$f")
		echo "$(basename "$f"): schema $v"
		[ "$v" = valid ] || return 1
		[[ $f == */apmatrix.d/* ]] && continue
		if [ -n "${SEMANTIC_EXAMPLES[$(basename "$f")]:-}" ]; then
			! "$APMATRIX" -c "$f" --no-live check >/dev/null 2>&1 || { echo "check accepts $f"; return 1; }
		else
			"$APMATRIX" -c "$f" --no-live check >/dev/null || return 1
		fi
		n=$((n + 1))
	done
	# the whole example host: main file plus drop-ins
	"$APMATRIX" -c "$EXAMPLES/apmatrix.yaml" --config-dir "$EXAMPLES/apmatrix.d" --no-live check >/dev/null
	[ "$n" -ge 4 ]
}

@test "schema: agrees with the C validator on every good and every bad case under tests/cases" {
	local good=0 bad=0 semantic=0 yaml=0 fail=0
	# tests/cases/schema/: the cases of the 2025 schema audit (numbers as
	# written, version spellings, limits, null control-domains, empty
	# drop-ins, ~ as a name, trailing newlines, tabs); golden for check too,
	# see the next test
	for d in "$TOP"/tests/cases/*/ "$TOP"/tests/cases/schema/*/; do
		d=${d%/}
		[ -f "$d/config.yaml" ] || continue
		c=$(basename "$d")
		v=$(case_verdict "$d") || { echo "$c: $v"; return 1; }
		if c_verdict "$d"; then cv=accepts; else cv=rejects; fi
		case $c in
		good-*)
			if [ "$v" != valid ] || [ $cv != accepts ]; then
				echo "DISAGREE $c: schema $v, apmatrix $cv"
				fail=1
			fi
			good=$((good + 1)) ;;
		bad-*)
			if [ $cv != rejects ]; then
				echo "DISAGREE $c: apmatrix accepts a bad case"
				fail=1
			elif [ -n "${SEMANTIC[$c]:-}" ]; then
				# listed: the schema must accept it (else the list is stale)
				if [ "$v" != valid ]; then
					echo "STALE $c is listed as schema-valid but the schema says: $v"
					fail=1
				fi
				echo "$c: schema-valid, semantically bad: ${SEMANTIC[$c]}"
				semantic=$((semantic + 1))
			elif [ "$v" = valid ]; then
				echo "DISAGREE $c: apmatrix rejects it, the schema accepts it"
				fail=1
			else
				[[ $v == yaml:* ]] && yaml=$((yaml + 1))
				echo "$c: both reject ($v)"
			fi
			bad=$((bad + 1)) ;;
		esac
	done
	echo "# $good good and $bad bad cases; $semantic bad ones only semantically, $yaml not YAML the schema can see" >&3
	[ "$fail" = 0 ]
	[ "$good" -ge 11 ] && [ "$bad" -ge 50 ]
	# every listed case exists
	for c in "${!SEMANTIC[@]}"; do [ -d "$TOP/tests/cases/$c" ] || { echo "no case $c"; return 1; }; done
}

@test "schema: the cases under tests/cases/schema are golden for apmatrix check too" {
	# (check.bats has one @test per top-level case; these are checked here)
	cd "$TOP"
	n=0
	for d in tests/cases/schema/*/; do
		d=${d%/}
		c=${d##*/}
		args=(-c "$d/config.yaml")
		[ -d "$d/apmatrix.d" ] && args+=(--config-dir "$d/apmatrix.d")
		st=0
		"$APMATRIX" "${args[@]}" --no-live check >/dev/null 2>"$W/err" || st=$?
		case $c in
		bad-*) [ "$st" = 65 ] || { echo "$c: exit $st, want 65"; return 1; }
			[ -f "$d/expected.err" ] || { echo "$c has no expected.err"; return 1; } ;;
		good-*) [ "$st" = 0 ] || { echo "$c: exit $st, want 0"; cat "$W/err"; return 1; }
			! grep -v ': warning: ' "$W/err" | grep -q . || { cat "$W/err"; return 1; } ;;
		*) echo "$c: neither bad-* nor good-*"; return 1 ;;
		esac
		if [ -f "$d/expected.err" ]; then diff -u "$d/expected.err" "$W/err" || return 1; fi
		n=$((n + 1))
	done
	[ "$n" -ge 25 ]
	# no name is used twice between tests/cases and tests/cases/schema
	[ -z "$(ls tests/cases tests/cases/schema | grep -E '^(bad|good)-' | sort | uniq -d)" ]
}

@test "schema: the 16384-guest limit (maxProperties), as check counts it" {
	gen() { # N: N guests, each with its own APQN
		echo "version: 1"
		echo "guests:"
		awk -v n="$1" 'BEGIN { for (i = 0; i < n; i++) printf "  g%d: {adapters: [%d], domains: [%d]}\n", i, int(i / 256), i % 256 }'
	}
	gen 16384 >"$W/ok.yaml"
	gen 16385 >"$W/over.yaml"
	[ "$(verdict "$S/apmatrix.schema.json" "$W/ok.yaml")" = valid ]
	"$APMATRIX" -c "$W/ok.yaml" --no-live check >/dev/null
	[[ $(verdict "$S/apmatrix.schema.json" "$W/over.yaml") == invalid* ]]
	run "$APMATRIX" -c "$W/over.yaml" --no-live check
	[ "$status" -eq 65 ]
	[[ $output == *"more than 16384 guests"* ]]
	# --json names the guest the limit stopped at
	run "$APMATRIX" -c "$W/over.yaml" --no-live check --json
	[ "$status" -eq 65 ]
	jqe '[.diagnostics[] | select(.message | contains("more than 16384 guests"))] | length == 1 and .[0].guest != null' <<<"$output"
}

@test "schema-validate's python fallback reads pattern as ECMA-262 does: \$ is the end, not before a final newline" {
	printf '{"version": 1, "guests": {"g1": {"adapters": ["5\\n"], "domains": [4]}}}' >"$W/nl.json"
	printf '{"version": 1, "guests": {"g1\\n": {"adapters": [5], "domains": [4]}}}' >"$W/nlname.json"
	printf '{"version": 1, "guests": {"g1": {"adapters": ["5"], "domains": [4]}}}' >"$W/ok.json"
	run env APMATRIX_VALIDATOR=python "$VALIDATE" "$S/apmatrix.schema.json" "$W/nl.json" "$W/nlname.json" "$W/ok.json"
	echo "$output"
	[ "${#lines[@]}" -eq 4 ]
	[[ ${lines[1]} == "invalid $W/nl.json:"* ]]
	[[ ${lines[2]} == "invalid $W/nlname.json:"* ]]
	[ "${lines[3]}" = "valid $W/ok.json" ]
}

@test "schema: check, diff, apply and status --json documents match their schemas (and the schemas are closed)" {
	need_root
	in_sim "$HOSTS/seed.yaml" <<EOF
W=\$(mktemp -d)
ok() { # SCHEMA FILE
	out=\$("$VALIDATE" "$S/\$1.schema.json" "\$2") || die "validator failed"
	[ "\$(sed -n 2p <<<"\$out" | cut -d' ' -f1)" = valid ] || die "\$2 vs \$1: \$out: \$(cat "\$2")"
}
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
apmatrix check --json > \$W/check.json; ok check \$W/check.json
apmatrix -c "$TOP/tests/cases/bad-overlap-seed-example2/config.yaml" check --json > \$W/check-bad.json
jqe '.valid == false and (.diagnostics | length) > 0' \$W/check-bad.json >/dev/null || die "bad check"
ok check \$W/check-bad.json
apmatrix -c "$TOP/tests/cases/good-host-keep-and-masks/config.yaml" --no-live check --json > \$W/check-keep.json
ok check \$W/check-keep.json
apmatrix diff --json > \$W/diff.json
jqe '.changes > 0' \$W/diff.json >/dev/null || die "empty plan"
ok diff \$W/diff.json
apmatrix status --json > \$W/status-before.json; ok status \$W/status-before.json
# a foreign mdev, then apply: status with live matrices and an undeclared mdev
F=7d1c0000-0000-4000-8000-000000000001
echo -0x06 > /sys/bus/ap/apmask
echo \$F > /sys/devices/vfio_ap/matrix/mdev_supported_types/vfio_ap-passthrough/create
apmatrix --json apply > \$W/apply.json || die apply
ok apply \$W/apply.json
jqe '.changed and .done > 0 and (.actions | length) == .done' \$W/apply.json >/dev/null || die "apply document"
apmatrix status --json > \$W/status.json; ok status \$W/status.json
jqe '(.undeclared_mdevs | length) == 1 and (.guests[0].live | type) == "object"' \$W/status.json >/dev/null || die "status shape"
apmatrix show --json > \$W/show.json; ok status \$W/show.json
# a change with unassigns and removals
sed -i 's/domains: \[0x04, 0xab\]/domains: [0x04]/; s/domains: \[0x47, 0xff\]/domains: [0x47, 0xab]/' /etc/apmatrix.yaml
apmatrix diff --json > \$W/diff2.json; ok diff \$W/diff2.json
# its failures: a failed write (errno, message), what it skipped
echo "devices/vfio_ap/matrix/*/ap_config EIO 1" > /sys/.sim/fail
apmatrix --json apply > \$W/apply2.json 2>/dev/null && die "apply with a failed write exited 0"
jqe '.failed == 1 and (.actions | any(.outcome == "failed" and .errno == "EIO"))' \$W/apply2.json >/dev/null || die "apply2 shape"
ok apply \$W/apply2.json
# closed: an unknown key anywhere is refused
jq '.extra = 1' \$W/check.json > \$W/x.json
out=\$("$VALIDATE" "$S/check.schema.json" \$W/x.json); [[ \$(sed -n 2p <<<"\$out") == invalid* ]] || die "check schema is open"
jq '.actions[0].extra = 1' \$W/diff.json > \$W/x.json
out=\$("$VALIDATE" "$S/diff.schema.json" \$W/x.json); [[ \$(sed -n 2p <<<"\$out") == invalid* ]] || die "diff schema is open"
jq '.actions[0].depends_on = [0]' \$W/apply.json > \$W/x.json
out=\$("$VALIDATE" "$S/apply.schema.json" \$W/x.json); [[ \$(sed -n 2p <<<"\$out") == invalid* ]] || die "apply schema is open"
jq '.guests[0].state = "gone"' \$W/status.json > \$W/x.json
out=\$("$VALIDATE" "$S/status.schema.json" \$W/x.json); [[ \$(sed -n 2p <<<"\$out") == invalid* ]] || die "status state enum"
# every document says which it is: without its document, or with another's, it is refused
for n in check diff apply status; do
	jq 'del(.document)' \$W/\$n.json > \$W/x.json
	out=\$("$VALIDATE" "$S/\$n.schema.json" \$W/x.json); [[ \$(sed -n 2p <<<"\$out") == invalid* ]] || die "\$n: document not required"
	jq '.document = "other"' \$W/\$n.json > \$W/x.json
	out=\$("$VALIDATE" "$S/\$n.schema.json" \$W/x.json); [[ \$(sed -n 2p <<<"\$out") == invalid* ]] || die "\$n: any document taken"
done
echo OK
EOF
	echo "$output"
	assert_success
	assert_output --partial OK
}

@test "schema: status and show --json with mdevctl definitions (a guest left out, a guest and an mdev defined in mdevctl, one to be handed over) match the status schema" {
	need_root
	in_sim "$HOSTS/seed.yaml" <<EOF
W=\$(mktemp -d)
ok() { # FILE
	out=\$("$VALIDATE" "$S/status.schema.json" "\$1") || die "validator failed"
	[ "\$(sed -n 2p <<<"\$out" | cut -d' ' -f1)" = valid ] || die "\$1: \$out: \$(cat "\$1")"
}
bad() { # FILE WHAT
	out=\$("$VALIDATE" "$S/status.schema.json" "\$1"); [[ \$(sed -n 2p <<<"\$out") == invalid* ]] || die "\$2 taken"
}
U=aaaaaaaa-1111-4111-8111-111111111111
printf 'version: 1\nguests:\n  web1:\n    uuid: %s\n    adapters: [0x06]\n    domains: [0x04]\n' \$U > /etc/apmatrix.yaml
apmatrix apply -q || die "bring-up"
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
mkdir -p /etc/mdevctl.d/matrix
echo '{"mdev_type":"vfio_ap-passthrough","start":"auto","attrs":[{"assign_adapter":"5"},{"assign_domain":"71"}]}' > /etc/mdevctl.d/matrix/11111111-2222-3333-4444-555555555555
echo '{"mdev_type":"vfio_ap-passthrough","start":"manual","attrs":[{"assign_adapter":"6"},{"assign_domain":"4"}]}' > /etc/mdevctl.d/matrix/\$U
apmatrix status --json > \$W/s.json; ok \$W/s.json
jqe '(.guests[] | select(.name == "guest2") | .state == "left_out" and (.left_out | type) == "string") and (.undeclared_mdevs[0] | .handed_over and .mdevctl.start == "manual")' \$W/s.json >/dev/null || die "shape: \$(cat \$W/s.json)"
apmatrix show --json > \$W/show.json; ok \$W/show.json
jq '.undeclared_mdevs[0].mdevctl.start = "sometimes"' \$W/s.json > \$W/x.json; bad \$W/x.json "start sometimes"
jq '.undeclared_mdevs[0].mdevctl.extra = 1' \$W/s.json > \$W/x.json; bad \$W/x.json "an extra key in mdevctl"
jq 'del(.guests[0].left_out)' \$W/s.json > \$W/x.json; bad \$W/x.json "a guest without left_out"
jq 'del(.undeclared_mdevs[0].handed_over)' \$W/s.json > \$W/x.json; bad \$W/x.json "an mdev without handed_over"
echo OK
EOF
	echo "$output"
	assert_success
	assert_output --partial OK
}

@test "schema: status and show --json with a guest left out because a foreign mdev holds its queue match the status schema" {
	need_root
	in_sim "$HOSTS/seed.yaml" <<EOF
W=\$(mktemp -d)
ok() { # FILE
	out=\$("$VALIDATE" "$S/status.schema.json" "\$1") || die "validator failed"
	[ "\$(sed -n 2p <<<"\$out" | cut -d' ' -f1)" = valid ] || die "\$1: \$out: \$(cat "\$1")"
}
F=7d1c0000-0000-4000-8000-000000000001
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
echo -0x05 > /sys/bus/ap/apmask
echo \$F > /sys/devices/vfio_ap/matrix/mdev_supported_types/vfio_ap-passthrough/create
echo 0x05 > \$(mdev_dir \$F)/assign_adapter
echo 0x47 > \$(mdev_dir \$F)/assign_domain
apmatrix status --json > \$W/s.json; ok \$W/s.json
jqe '(.guests[] | select(.name == "guest2") | .state == "left_out" and (.left_out | type) == "string") and (.undeclared_mdevs[0].overlaps[0].guest == "guest2")' \$W/s.json >/dev/null || die "shape: \$(cat \$W/s.json)"
apmatrix show --json > \$W/show.json; ok \$W/show.json
echo OK
EOF
	echo "$output"
	assert_success
	assert_output --partial OK
}

@test "schema: rfc2017 and 6.0 plans (queue takes, individual assigns) match the diff schema" {
	need_root
	for topo in "$HOSTS/rfc2017.yaml" "$(seed_topo 6.0)"; do
		in_sim "$topo" <<EOF
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
W=\$(mktemp -d)
apmatrix diff --json > \$W/d.json
out=\$("$VALIDATE" "$S/diff.schema.json" \$W/d.json)
[ "\$(sed -n 2p <<<"\$out" | cut -d' ' -f1)" = valid ] || die "\$out"
apmatrix status --json > \$W/s.json
out=\$("$VALIDATE" "$S/status.schema.json" \$W/s.json)
[ "\$(sed -n 2p <<<"\$out" | cut -d' ' -f1)" = valid ] || die "\$out"
echo OK
EOF
		echo "$output"
		assert_success
		assert_output --partial OK
	done
}

@test "schema: what apmatrix import writes validates against the config schema" {
	need_root
	in_sim "$HOSTS/seed.yaml" <<EOF
W=\$(mktemp -d)
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
apmatrix apply >/dev/null || die apply
apmatrix import > \$W/i.yaml || die import
"$Y2J" \$W/i.yaml > \$W/i.json || die yaml
out=\$("$VALIDATE" "$S/apmatrix.schema.json" \$W/i.json)
[ "\$(sed -n 2p <<<"\$out" | cut -d' ' -f1)" = valid ] || die "\$out"
echo OK
EOF
	echo "$output"
	assert_success
	assert_output --partial OK
}
