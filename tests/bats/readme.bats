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

@test "man: the diff, show and status samples of apmatrix(8) EXAMPLES are what apmatrix prints on the 2017 host" {
	# a sample: the lines after the first "# apmatrix CMD" up to .EE or the next "# " line, groff
	# escapes undone; a last line "..." marks a sample cut short
	for cmd in diff show status; do
		awk -v c="# apmatrix $cmd" '$0 == c {on=1; next} on && (/^\.EE/ || /^# /) {exit} on' "$TOP/man/apmatrix.8" |
			sed -e 's/\\-/-/g' -e 's/\\&//g' -e "s/\\\\(aq/'/g" > "$BATS_TEST_TMPDIR/$cmd.want"
		[ "$(wc -l < "$BATS_TEST_TMPDIR/$cmd.want")" -ge 4 ] || { echo "no $cmd sample"; return 1; }
	done
	in_sim "$HOSTS/seed.yaml" <<'EOS'
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apmatrix.yaml
# the diff sample is before the first apply
got=$(apmatrix diff 2>&1)
[ $? = 2 ] || die "diff: exit not 2: $got"
[ "$got" = "$(cat $T/diff.want)" ] || die "apmatrix(8) diff sample: $(diff $T/diff.want <(echo "$got"))"
apmatrix apply >/dev/null 2>&1 || die bring-up
for cmd in show status; do
	want=$(cat $T/$cmd.want)
	got=$(apmatrix --color never $cmd 2>&1)
	if [ "$(tail -n1 <<<"$want")" = "..." ]; then
		want=$(sed '$d' <<<"$want")
		got=$(head -n "$(wc -l <<<"$want")" <<<"$got")
	fi
	[ "$got" = "$want" ] || die "apmatrix(8) $cmd sample: $(diff <(echo "$want") <(echo "$got"))"
done
echo OK
EOS
	assert_success
	assert_output --partial OK
}

@test "README: its Environment table names every variable of apmatrix(8) ENVIRONMENT" {
	cd "$TOP"
	man=$(awk '/^\.SH / { on = ($2 == "ENVIRONMENT"); next } on && prev == ".TP" && /^\.B [A-Z_]+$/ { print $2 } { prev = $1 }' man/apmatrix.8 | sort -u)
	readme=$(awk '/^## Environment/ { on = 1; next } /^## / { on = 0 } on' README.md | grep -oE '^\| `[A-Z_]+`' | tr -d '|` ' | sort -u)
	[ "$(wc -l <<<"$man")" -ge 6 ]
	diff <(echo "$man") <(echo "$readme")
}
