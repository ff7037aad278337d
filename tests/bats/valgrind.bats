#!/usr/bin/env bats
# Memory hygiene of the real binary: valgrind (memcheck) reports no error and
# no leak of any kind for check on every example, and for a whole
# check/diff/apply/status/show cycle on the simulated seed host.

load helpers

vg() {
	valgrind -q --leak-check=full --show-leak-kinds=all --errors-for-leak-kinds=all \
		--error-exitcode=99 "$@"
}

setup() {
	command -v valgrind >/dev/null || skip "valgrind not installed"
	# (make check sets APMATRIX_BIN too: the wrapper, a script, is what tells)
	[ "${APMATRIX_VALGRIND:-0}" != 1 ] && [ "$(head -c 4 "$APMATRIX" 2>/dev/null)" = $'\x7fELF' ] ||
		skip "make check-valgrind runs every test under valgrind"
	! grep -qa __asan_init "$APMATRIX" || skip "built with ASan (make check-asan), which valgrind cannot run"
}

@test "valgrind: check on every example, no errors and no leaks" {
	n=0
	for f in "$EXAMPLES"/*.yaml "$EXAMPLES"/apmatrix.d/*.yaml; do
		run vg "$APMATRIX" --no-live -c "$f" check
		[ "$status" = 0 ] || [ "$status" = 65 ] || { echo "$f: exit $status"; echo "$output"; return 1; }
		refute_output --partial "=="
		n=$((n + 1))
	done
	run vg "$APMATRIX" --no-live -c "$EXAMPLES/apmatrix.yaml" --config-dir "$EXAMPLES/apmatrix.d" check --json
	assert_success
	[ "$n" -ge 5 ]
}

@test "valgrind: check, diff, apply, status, show on the simulated seed host" {
	need_root
	in_sim "$HOSTS/seed.yaml" <<'EOF'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
vg() { valgrind -q --leak-check=full --show-leak-kinds=all --errors-for-leak-kinds=all --error-exitcode=99 "$@"; }
for c in check diff apply status "show guest1" apply; do
	vg "$(command -v apmatrix)" $c >/dev/null 2>$T/e; rc=$?
	[ "$rc" != 99 ] && ! grep -q '==' $T/e || die "$c: $(cat $T/e)"
	echo "$c $rc"
done
EOF
	assert_success
	assert_line "diff 2"
	assert_line "apply 0"
}
