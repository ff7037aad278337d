#!/usr/bin/env bats
# Static checks on the sources (STYLE R3).

setup() {
	top=${APMATRIX_TOP:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)}
	lint=$top/tests/lint/only-sysfs-writes.sh
}

@test "lint: only sysfs.c and owner.c open files for writing" {
	run "$lint"
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "lint: the sysfs-writes check catches write opens and ignores reads" {
	dir=$BATS_TEST_TMPDIR/src
	mkdir -p "$dir"
	cat >"$dir/ok.c" <<'C'
/* open(p, O_WRONLY) inside a comment does not count */
static int f(const char *p)
{
	FILE *g = fopen(p, "re");
	return openat(-100, p,
		      O_RDONLY | O_CLOEXEC) + sysfs_open(p, 0) + (g != NULL);
}
C
	run "$lint" "$dir"
	[ "$status" -eq 0 ]

	cat >"$dir/bad.c" <<'C'
static int g(const char *p)
{
	FILE *h = fopen(p,
			"we");
	return open(p, O_WRONLY | O_TRUNC) + creat(p, 0600) + (h != NULL);
}
C
	run "$lint" "$dir"
	[ "$status" -eq 1 ]
	[[ "$output" == *"bad.c:3: opens a file for writing"*'fopen(p, "we")'* ]]
	[[ "$output" == *"bad.c:5:"*"open(p, O_WRONLY | O_TRUNC)"* ]]
	[[ "$output" == *"bad.c:5:"*"creat(p, 0600)"* ]]
	[[ "$output" != *"ok.c"* ]]

	# the two allowed files may do it
	mv "$dir/bad.c" "$dir/owner.c"
	run "$lint" "$dir"
	[ "$status" -eq 0 ]
}
