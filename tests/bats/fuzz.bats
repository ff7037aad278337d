#!/usr/bin/env bats
# The libFuzzer target over the config loader and compiler (tests/fuzz):
# every seed and regression input replayed, the file-access guard, and a
# 60 s fuzzing run that fails on a crash, a leak or a timeout.  Skipped
# when clang is not installed; when it is, the target must build, in the
# build directory of the apmatrix under test (helpers.bash: BUILD).
load helpers

setup_file() {
	export TOP=${APMATRIX_TOP:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)}
	# the target's own sanitizer settings (tests/fuzz/run), not those of a
	# sanitized apmatrix run (make check-asan logs reports to files)
	unset ASAN_OPTIONS UBSAN_OPTIONS
	command -v clang >/dev/null || return 0
	make -C "$TOP" --no-print-directory B="$BUILD" fuzz >"$BATS_FILE_TMPDIR/build.log" 2>&1 || touch "$BATS_FILE_TMPDIR/failed"
}

setup() {
	unset ASAN_OPTIONS UBSAN_OPTIONS
	command -v clang >/dev/null || skip "clang is not installed (tests/lib/deps installs it)"
	if [ -e "$BATS_FILE_TMPDIR/failed" ]; then
		cat "$BATS_FILE_TMPDIR/build.log"
		false
	fi
	FUZZ=$BUILD/fuzz-config
}

@test "fuzz: every seed (examples, tests/cases) and every tests/fuzz/regress input runs clean" {
	seeds=$BATS_TEST_TMPDIR/seeds
	n=$("$TOP/tests/fuzz/seeds" "$seeds")
	[ "$n" -ge 80 ]
	[ "$(ls "$TOP"/tests/fuzz/regress | wc -l)" -ge 1 ]
	run "$FUZZ" "$seeds"/*
	echo "$output" | tail -5
	[ "$status" -eq 0 ]
	[[ "$output" == *"Executed $seeds/"* ]]
}

@test "fuzz: the guard aborts an input that makes the loader open a file" {
	f=$BATS_TEST_TMPDIR/one.yaml
	echo "version: 1" >"$f"
	FUZZ_CONFIG_SELFTEST=1 run "$FUZZ" "$f"
	[ "$status" -ne 0 ]
	[[ "$output" == *"fuzz-config: file access during an input: open"* ]]
}

@test "fuzz: 60 s on the seeds and the corpus: no crash, leak, timeout or out-of-memory" {
	FUZZ_BUILD=$BUILD run "$TOP/tests/fuzz/run" 60 -artifact_prefix="$BATS_TEST_TMPDIR/"
	echo "$output" | grep -E '^(fuzz:|Done|stat::number_of_executed_units|==[0-9]+==|SUMMARY)' || true
	[ "$status" -eq 0 ]
	[[ "$output" == *"Done "*" runs in "* ]]
	! ls "$BATS_TEST_TMPDIR"/crash-* "$BATS_TEST_TMPDIR"/leak-* "$BATS_TEST_TMPDIR"/timeout-* "$BATS_TEST_TMPDIR"/oom-* 2>/dev/null
}
