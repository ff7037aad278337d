#!/usr/bin/env bats
# The README is the front door: every "$ apmatrix -c examples/..." sample in
# it prints exactly what the README shows (configuration-only commands, run
# from the top of the tree).

load helpers

@test "README: the samples that read examples/ print what the README shows" {
	cd "$TOP"
	n=0
	# blocks: a line "$ apmatrix -c examples/...", then the expected output up to ```
	while IFS= read -r -d '' block; do
		cmd=$(head -n1 <<<"$block")
		want=$(tail -n +2 <<<"$block")
		read -r -a argv <<<"${cmd#\$ apmatrix }"
		got=$("$APMATRIX" --no-live --color never "${argv[@]}" 2>&1) || true
		if [ "$(tail -n1 <<<"$want")" = "..." ]; then # a sample cut short: compare its head
			want=$(sed '$d' <<<"$want")
			got=$(head -n "$(wc -l <<<"$want")" <<<"$got")
		fi
		[ "$got" = "$want" ] || { diff <(echo "$want") <(echo "$got"); echo "README sample: $cmd"; return 1; }
		n=$((n + 1))
	done < <(awk '/^\$ apmatrix -c examples\//{on=1; buf=$0; next} on && /^```/{printf "%s%c", buf, 0; on=0; next} on{buf=buf "\n" $0}' README.md)
	[ "$n" -ge 2 ]
}
