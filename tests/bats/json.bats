#!/usr/bin/env bats
# --json always prints exactly one JSON document, also when there is nothing
# to plan: an invalid configuration gives its diagnostics in the document and
# exit 65, nothing on stderr.

bats_require_minimum_version 1.5.0
load helpers

@test "diff --json with an invalid configuration: one document with the diagnostics, exit 65" {
	run --separate-stderr "$APMATRIX" -c "$EXAMPLES/seed-example2-invalid.yaml" diff --json
	[ "$status" = 65 ]
	[ -z "$stderr" ]
	jq -e '.version == 1 and .changes == 0 and (.actions | length) == 0' <<<"$output"
	jq -e '.diagnostics[0] | .severity == "error" and .line == 11 and .column == 15 and .guest == "Guest2"' <<<"$output"
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
	jq -e '[.diagnostics[].line] == ([.diagnostics[].line] | sort)' <<<"$output"
	jq -e '(.diagnostics | length) >= 2' <<<"$output"
}
