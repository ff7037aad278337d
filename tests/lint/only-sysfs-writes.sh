#!/usr/bin/env bash
# STYLE R3: sysfs.c is the only code that writes kernel files, and owner.c
# the only one that writes apmatrix's own state and locks.  Fail when any
# other C file under src/ opens a file for writing: open/openat/open64/openat2
# with a write or create flag, fopen/freopen/fdopen/popen with a w/a/+ mode,
# creat(), mkstemp().  Calls spanning several lines are handled; comments are
# ignored.  Usage: only-sysfs-writes.sh [SRCDIR]   (default: src next to tests/)
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
src=${1:-$top/src}
allowed='^(sysfs|owner)\.c$'

status=0
for f in "$src"/*.c "$src"/*.h; do
	[ -f "$f" ] || continue
	base=$(basename "$f")
	[[ $base =~ $allowed ]] && continue
	perl -0777 -ne '
		my $file = $ARGV;
		my $text = $_;
		# blank out comments, keep newlines so line numbers stay right
		$text =~ s{/\*.*?\*/}{ (my $c = $&) =~ s/[^\n]/ /g; $c }gse;
		$text =~ s{//[^\n]*}{ " " x length($&) }ge;
		my $bad = 0;
		while ($text =~ /\b(open|openat|open64|openat64|openat2|creat|creat64|fopen|fopen64|freopen|fdopen|popen|mkstemp|mkostemp|mkstemps|mkostemps)\s*\(/g) {
			my ($fn, $start) = ($1, $-[0]);
			# the argument list up to the matching parenthesis
			my ($depth, $i, $args) = (1, pos($text), "");
			while ($i < length($text) && $depth > 0) {
				my $ch = substr($text, $i, 1);
				$depth++ if $ch eq "(";
				$depth-- if $ch eq ")";
				$args .= $ch if $depth > 0;
				$i++;
			}
			my $hit = 0;
			if ($fn =~ /^(creat|creat64|mkstemp|mkostemp|mkstemps|mkostemps)$/) {
				$hit = 1;
			} elsif ($fn =~ /^(fopen|fopen64|freopen|fdopen|popen)$/) {
				# the mode is the first string literal after the first argument
				$hit = 1 if $args =~ /,\s*"([^"]*)"/ && $1 =~ /[wa+]/;
				$hit = 1 if $fn eq "popen" && $args =~ /,\s*"w/;
			} else {
				$hit = 1 if $args =~ /\bO_(WRONLY|RDWR|CREAT|TRUNC|APPEND|TMPFILE)\b/;
			}
			next unless $hit;
			my $line = 1 + (substr($text, 0, $start) =~ tr/\n//);
			(my $call = "$fn($args)") =~ s/\s+/ /g;
			print "$file:$line: opens a file for writing outside sysfs.c/owner.c: $call\n";
			$bad = 1;
		}
		exit($bad);
	' "$f" || status=1
done
exit $status
