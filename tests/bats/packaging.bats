#!/usr/bin/env bats
# Packaging: debian/ builds a .deb (dpkg-buildpackage in a copy of the tree,
# never in the working tree) that lintian accepts and that enables nothing
# unless a configuration exists; apmatrix.spec parses with rpmspec; the
# version agrees everywhere with src/main.c.
load helpers

# src_version: APMATRIX_VERSION of src/main.c, the one place the version is set
src_version() {
	sed -n 's/^#define APMATRIX_VERSION "\(.*\)"$/\1/p' "$TOP/src/main.c"
}

# copy_tree DIR: the files git tracks or would track (not build/), as they
# are in the working tree
copy_tree() {
	mkdir -p "$1"
	git -C "$TOP" ls-files -z --cached --others --exclude-standard |
		while IFS= read -r -d '' f; do [ -f "$TOP/$f" ] && printf '%s\0' "$f"; done |
		(cd "$TOP" && xargs -0 cp --parents -t "$1")
}

setup_file() {
	command -v dpkg-buildpackage >/dev/null && [ -e /usr/bin/dh ] || return 0
	local d=$BATS_FILE_TMPDIR/deb
	copy_tree "$d/apmatrix-src"
	# -b: binary only; the .deb lands next to the source directory
	(cd "$d/apmatrix-src" && DEB_BUILD_OPTIONS=parallel=2 dpkg-buildpackage -us -uc -b) >"$d/build.log" 2>&1
	echo $? >"$d/build.rc"
}

setup() {
	DEBDIR=$BATS_FILE_TMPDIR/deb
	DEB=$DEBDIR/apmatrix_$(src_version)_$(dpkg --print-architecture)_.deb
	DEB=${DEB%_.deb}.deb
}

# man_with_dirs UNITDIR UDEVRULESDIR: apmatrix(8) on stdin as make install
# writes it for these directories (no '-' in them)
man_with_dirs() {
	sed -e "s|^\.I /usr/lib/systemd/system/apmatrix|.I $1/apmatrix|" \
		-e "s|^\.I /usr/lib/udev/rules\.d/90|.I $2/90|"
}

need_deb() {
	[ -e "$DEBDIR/build.rc" ] || skip "dpkg-buildpackage or debhelper not installed"
	if [ "$(cat "$DEBDIR/build.rc")" != 0 ]; then
		tail -40 "$DEBDIR/build.log"
		echo "dpkg-buildpackage exited $(cat "$DEBDIR/build.rc")"
		return 1
	fi
	[ -f "$DEB" ] || { ls -l "$DEBDIR"; echo "no $DEB"; return 1; }
}

@test "deb: dpkg-buildpackage -us -uc -b builds, running the C unit tests only" {
	need_deb
	grep -q 'passed, 0 failed$' "$DEBDIR/build.log"
	grep -q '^ok .*test_' "$DEBDIR/build.log"
	! grep -E 'tests/bats|tests/sim|with-sim|apmatrix-sim' "$DEBDIR/build.log" || false
	# the working tree was not touched
	[ ! -e "$TOP/debian/apmatrix" ] && [ ! -e "$TOP/debian/files" ] && [ ! -e "$TOP/debian/.debhelper" ]
}

@test "deb: the build's unit tests pass in a tree unpacked with umask 002 (group-writable examples and fixtures)" {
	command -v dpkg-buildpackage >/dev/null || skip "dpkg-dev not installed"
	d=$BATS_TEST_TMPDIR/src
	copy_tree "$d"
	chmod -R g+w "$d"
	# the target dh runs for dh_auto_test, on its own (debhelper not needed)
	run env -u MAKEFLAGS make -C "$d" -f debian/rules override_dh_auto_test MAKEFLAGS=-j2
	[ "$status" = 0 ] || { grep -E '^not ok|passed' <<<"$output"; false; }
	assert_output --partial 'passed, 0 failed'
	# the tree's own files (build/ is the unit tests' output: under make
	# check-valgrind it holds the 1777 directory of the valgrind logs)
	[ -z "$(find "$d" -path "$d/build" -prune -o -perm -g+w -print)" ]
}

@test "deb: binary, unit, udev rules, man pages, completion, examples; no configuration in /etc" {
	need_deb
	run dpkg-deb -c "$DEB"
	assert_success
	files=$(awk '{ print $6 }' <<<"$output" | sed 's|^\./|/|')
	unitdir=$(pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null || echo /usr/lib/systemd/system)
	udevdir=$(pkg-config --variable=udevdir udev 2>/dev/null || echo /usr/lib/udev)
	for f in /usr/sbin/apmatrix "$unitdir/apmatrix-apply.service" "$udevdir/rules.d/90-apmatrix.rules" \
		/usr/share/man/man8/apmatrix.8.gz /usr/share/man/man5/apmatrix.yaml.5.gz \
		/usr/share/bash-completion/completions/apmatrix /usr/share/doc/apmatrix/copyright \
		/usr/share/apmatrix/libvirt-qemu-hook \
		/usr/share/doc/apmatrix/examples/apmatrix.yaml /usr/share/doc/apmatrix/examples/ansible/site.yml \
		/etc/apmatrix.d/; do
		grep -qxF "$f" <<<"$files" || { echo "missing: $f"; echo "$files"; false; }
	done
	grep -q '^-rwxr-xr-x root/root .* \./usr/sbin/apmatrix$' <<<"$output"
	grep -q '^-rwxr-xr-x root/root .* \./usr/share/apmatrix/libvirt-qemu-hook$' <<<"$output"
	# the hook is not enabled: nothing in /etc/libvirt
	! grep -q '^/etc/libvirt' <<<"$files" || false
	# nothing in /etc but the empty drop-in directory: no conffile that could
	# replace or remove an administrator's /etc/apmatrix.yaml
	[ "$(grep '^/etc/.' <<<"$files")" = /etc/apmatrix.d/ ]
	x=$BATS_TEST_TMPDIR/control
	dpkg-deb -e "$DEB" "$x"
	[ ! -s "$x/conffiles" ]
	# shared libraries found by dpkg-shlibdeps: libyaml and libc only (libuuid
	# is the unit tests' reference for src/uuid.c, not linked into apmatrix)
	run dpkg-deb -f "$DEB" Depends
	for lib in libyaml libc6; do assert_output --partial "$lib"; done
	refute_output --partial libuuid
	# the packaged binary runs and says the source's version
	dpkg-deb -x "$DEB" "$BATS_TEST_TMPDIR/root"
	run "$BATS_TEST_TMPDIR/root/usr/sbin/apmatrix" --version
	assert_output "apmatrix $(src_version)"
	# PREFIX=/usr: the unit, the rules and the man pages as in the tree
	# (ExecStart=/usr/sbin/apmatrix), but that the rules run /bin/systemctl
	# (every Debian release has it, merged /usr or not) and apmatrix(8) names
	# the unit and rules directories of the package
	cmp "$TOP/units/apmatrix-apply.service" "$BATS_TEST_TMPDIR/root$unitdir/apmatrix-apply.service"
	diff <(sed 's|RUN+="/usr/bin/systemctl |RUN+="/bin/systemctl |' "$TOP/rules/90-apmatrix.rules") \
		"$BATS_TEST_TMPDIR/root$udevdir/rules.d/90-apmatrix.rules"
	! grep -F /usr/bin/systemctl "$BATS_TEST_TMPDIR/root$udevdir/rules.d/90-apmatrix.rules" || false
	diff <(man_with_dirs "$unitdir" "$udevdir/rules.d" <"$TOP/man/apmatrix.8") \
		<(zcat "$BATS_TEST_TMPDIR/root/usr/share/man/man8/apmatrix.8.gz")
	cmp "$TOP/man/apmatrix.yaml.5" <(zcat "$BATS_TEST_TMPDIR/root/usr/share/man/man5/apmatrix.yaml.5.gz")
}

@test "deb: lintian reports no errors" {
	need_deb
	command -v lintian >/dev/null || skip "lintian not installed"
	run lintian --pedantic --info "$DEB"
	echo "$output"
	! grep '^E:' <<<"$output" || false
	# built with the distribution's hardening flags (CPPFLAGS too)
	! grep 'hardening-no-' <<<"$output" || false
	# the other tags, for the record
	grep -E '^[WIP]:' <<<"$output" | sed 's/^/# lintian: /' >&3 || true
}

@test "deb: postinst enables the unit on first installation only when /etc/apmatrix.yaml exists, starts nothing" {
	need_deb
	need_root
	x=$BATS_TEST_TMPDIR/control
	dpkg-deb -e "$DEB" "$x"
	[ -x "$x/postinst" ]
	# no start, restart or stop (of a running apply) in the maintainer scripts
	! grep -hE 'systemctl .*(start|restart|stop)|invoke-rc.d|deb-systemd-invoke' "$x"/p* || false
	stub=$BATS_TEST_TMPDIR/stub
	mkdir -p "$stub"
	cat >"$stub/deb-systemd-helper" <<-EOT
	#!/bin/sh
	echo "deb-systemd-helper \$*" >>"$BATS_TEST_TMPDIR/helper.log"
	case "\$1 \$2" in *was-enabled*|*debian-installed*) exit 1 ;; esac
	exit 0
	EOT
	cat >"$stub/systemctl" <<-EOT
	#!/bin/sh
	echo "systemctl \$*" >>"$BATS_TEST_TMPDIR/helper.log"
	EOT
	chmod +x "$stub"/*
	in_sim "$HOSTS/seed.yaml" <<EOF
export PATH='$stub':\$PATH
log='$BATS_TEST_TMPDIR/helper.log'
'$x/postinst' configure '' || die "postinst failed without a configuration"
! grep -E ' enable|systemctl .*(start|enable)' "\$log" || die "enabled without a configuration: \$(cat "\$log")"
: >"\$log"
echo 'version: 1' >/etc/apmatrix.yaml
'$x/postinst' configure '' || die "postinst failed with a configuration"
grep -qx 'deb-systemd-helper enable apmatrix-apply.service' "\$log" || die "not enabled: \$(cat "\$log")"
! grep -E 'systemctl .*start' "\$log" || die "started: \$(cat "\$log")"
: >"\$log"
'$x/postinst' configure 0.0 || die "postinst failed on upgrade"
! grep -E ' enable ' "\$log" || die "an upgrade enabled a unit the administrator had disabled: \$(cat "\$log")"
echo OK
EOF
	echo "$output"
	assert_success
	assert_output --partial OK
}

@test "deb: postinst runs systemctl daemon-reload on configure where systemd runs (an upgraded unit file is used at once), not without it" {
	need_deb
	need_root
	x=$BATS_TEST_TMPDIR/control
	dpkg-deb -e "$DEB" "$x"
	stub=$BATS_TEST_TMPDIR/stub
	mkdir -p "$stub"
	cat >"$stub/deb-systemd-helper" <<-EOT
	#!/bin/sh
	case "\$1 \$2" in *was-enabled*|*debian-installed*) exit 1 ;; esac
	exit 0
	EOT
	cat >"$stub/systemctl" <<-EOT
	#!/bin/sh
	echo "systemctl \$*" >>"$BATS_TEST_TMPDIR/systemctl.log"
	EOT
	chmod +x "$stub"/*
	# /run is the simulation's own tmpfs: /run/systemd/system says systemd runs
	in_sim "$HOSTS/seed.yaml" <<EOF
export PATH='$stub':\$PATH
log='$BATS_TEST_TMPDIR/systemctl.log'
: >"\$log"
rm -rf /run/systemd/system
'$x/postinst' configure 0.0 || die "postinst failed without systemd"
[ ! -s "\$log" ] || die "systemctl without systemd: \$(cat "\$log")"
mkdir -p /run/systemd/system
for prev in 0.0 ''; do
	: >"\$log"
	'$x/postinst' configure "\$prev" || die "postinst configure '\$prev' failed"
	grep -qx 'systemctl --system daemon-reload' "\$log" || die "no daemon-reload (configure '\$prev'): \$(cat "\$log")"
	! grep -E 'systemctl .*(start|restart|stop|enable)' "\$log" || die "more than a reload: \$(cat "\$log")"
done
echo OK
EOF
	echo "$output"
	assert_success
	assert_output --partial OK
}

@test "rpm: rpmspec --parse accepts apmatrix.spec; version, scriptlets and files agree with the tree" {
	command -v rpmspec >/dev/null || skip "rpmspec not installed (rpm)"
	run rpmspec --parse "$TOP/apmatrix.spec"
	assert_success
	parsed=$output
	run rpmspec -q --srpm --qf '%{VERSION}\n' "$TOP/apmatrix.spec"
	assert_success
	assert_output "$(src_version)"
	for s in libyaml-devel libuuid-devel systemd-devel; do
		grep -qE "^BuildRequires: +$s\$" <<<"$parsed" || { echo "BuildRequires $s"; false; }
	done
	for m in post preun postun; do
		grep -qx "%systemd_$m apmatrix-apply.service" <<<"$parsed" || { echo "%systemd_$m"; false; }
	done
	# %files lists exactly what make install puts in place with the spec's
	# directories (less the example kept as documentation)
	files=$(sed -n '/^%files/,/^%changelog/p' <<<"$parsed" | sed '1d;$d' | grep -v '^%\(doc\|license\)' | grep .)
	knobs=$(sed -n '/^%install/,/^%check/p' <<<"$parsed" |
		grep -oE '\<(PREFIX|SBINDIR|MANDIR|SYSTEMDUNITDIR|UDEVRULESDIR|BASHCOMPDIR)=[^ \\]+')
	[ "$(wc -w <<<"$knobs")" = 6 ]
	r=$BATS_TEST_TMPDIR/rpmroot
	# shellcheck disable=SC2086 # the knobs are words
	make -C "$TOP" -s DESTDIR="$r" $knobs install >/dev/null
	rm "$r/etc/apmatrix.yaml.example"
	installed=$(cd "$r" && find . -type f -o -type d -empty | sed 's|^\.||' | sort)
	listed=$(sed 's/^%dir //' <<<"$files" | sort)
	echo "installed:"; echo "$installed"; echo "listed:"; echo "$listed"
	while read -r f; do
		(cd "$r" && compgen -G ".$f" >/dev/null) || { echo "listed, not installed: $f"; false; }
	done <<<"$listed"
	while read -r f; do
		grep -qxF "$f" <<<"$listed" || grep -qxF "$f*" <<<"$listed" || { echo "installed, not listed: $f"; false; }
	done <<<"$installed"
}

@test "rpm: rpmbuild builds the package from a tarball of the tree (dependencies not checked)" {
	command -v rpmbuild >/dev/null || skip "rpmbuild not installed (rpm)"
	r=$BATS_TEST_TMPDIR/rpm
	v=$(src_version)
	copy_tree "$r/src/apmatrix-$v"
	mkdir -p "$r/SOURCES"
	tar -C "$r/src" -czf "$r/SOURCES/apmatrix-$v.tar.gz" "apmatrix-$v"
	# --nodeps: the BuildRequires are Fedora's names, not in this rpm database
	run rpmbuild --define "_topdir $r" --nodeps -bb "$TOP/apmatrix.spec"
	[ "$status" = 0 ] || { tail -30 <<<"$output"; false; }
	assert_output --partial ' passed, 0 failed'
	rpm=$(find "$r/RPMS" -name "apmatrix-$v-*.rpm")
	[ -f "$rpm" ]
	run rpm -qlp "$rpm"
	for f in /usr/sbin/apmatrix /usr/share/man/man8/apmatrix.8 /etc/apmatrix.d; do
		grep -q "^$f" <<<"$output" || { echo "missing: $f"; false; }
	done
	grep -q '/apmatrix-apply.service$' <<<"$output"
	grep -q '/90-apmatrix.rules$' <<<"$output"
	! grep -q '^/etc/apmatrix.yaml' <<<"$output" || false
}

# installed FILE...: the one installed file of each name under $R
installed() {
	local f n
	for n in "$@"; do
		f=$(find "$R" -name "$n" -type f)
		if [ -z "$f" ] || [ "$(wc -l <<<"$f")" != 1 ]; then
			echo "installed $n: '$f'"
			return 1
		fi
		echo "$f"
	done
}

@test "install: the unit, the rules and the man pages name the paths of the install (PREFIX, SBINDIR, DATADIR, SYSCONFDIR, SYSTEMDUNITDIR, UDEVRULESDIR, SYSTEMCTL for the rules); PREFIX=/usr installs the tree's files (but the unit and rules directories apmatrix(8) names)" {
	# the default PREFIX=/usr (the distribution packages): every file as in the tree
	R=$BATS_TEST_TMPDIR/usr
	make -C "$TOP" -s DESTDIR="$R" install >/dev/null
	unit=$(installed apmatrix-apply.service)
	grep -qx 'ExecStart=/usr/sbin/apmatrix apply' "$unit"
	[ -x "$R/usr/sbin/apmatrix" ]
	cmp "$TOP/units/apmatrix-apply.service" "$unit"
	rules=$(installed 90-apmatrix.rules)
	cmp "$TOP/rules/90-apmatrix.rules" "$rules"
	# apmatrix(8) as in the tree but for the unit and rules directories, which
	# pkg-config may set outside /usr/lib (Debian 12: /lib)
	diff <(man_with_dirs "$(dirname "${unit#"$R"}")" "$(dirname "${rules#"$R"}")" <"$TOP/man/apmatrix.8") \
		"$R/usr/share/man/man8/apmatrix.8"
	grep -qxF ".I ${unit#"$R"}" "$R/usr/share/man/man8/apmatrix.8"
	cmp "$TOP/man/apmatrix.yaml.5" "$R/usr/share/man/man5/apmatrix.yaml.5"
	cmp "$TOP/completion/apmatrix.bash" "$R/usr/share/bash-completion/completions/apmatrix"
	cmp "$TOP/hooks/libvirt-qemu-hook" "$R/usr/share/apmatrix/libvirt-qemu-hook"
	cmp "$TOP/examples/apmatrix.yaml" "$R/etc/apmatrix.yaml.example"
	grep -qF '/usr/share/apmatrix/schema/' "$R/usr/share/man/man8/apmatrix.8"
	[ -f "$R/usr/share/apmatrix/schema/apmatrix.schema.json" ]

	# PREFIX=/usr/local: ExecStart= names the binary that was installed
	R=$BATS_TEST_TMPDIR/local
	local knobs=(DESTDIR="$R" PREFIX=/usr/local)
	run make -C "$TOP" -s "${knobs[@]}" install
	assert_success
	unit=$(installed apmatrix-apply.service)
	run grep '^ExecStart=' "$unit"
	assert_output 'ExecStart=/usr/local/sbin/apmatrix apply'
	[ -x "$R/usr/local/sbin/apmatrix" ]
	# nothing else in the unit changed: modprobe and the configuration apmatrix
	# reads (/etc/apmatrix.yaml whatever the PREFIX) stay
	diff <(grep -v '^ExecStart=' "$TOP/units/apmatrix-apply.service") <(grep -v '^ExecStart=' "$unit")
	grep -qx 'ExecStartPre=-+/sbin/modprobe -q -b vfio_ap' "$unit"
	grep -qx 'ConditionPathExists=/etc/apmatrix.yaml' "$unit"
	rules=$(installed 90-apmatrix.rules)
	cmp "$TOP/rules/90-apmatrix.rules" "$rules"
	# apmatrix(8) names the installed schemas, unit and rules (in FILES)
	man8=$R/usr/local/share/man/man8/apmatrix.8
	grep -qF '.IR /usr/local/share/apmatrix/schema/ .' "$man8"
	grep -qxF ".I ${unit#"$R"}" "$man8" || { grep -n 'apmatrix-apply.service$' "$man8"; false; }
	grep -qxF ".I ${rules#"$R"}" "$man8" || { grep -n '90-apmatrix.rules$' "$man8"; false; }
	[ -f "$R/usr/local/share/apmatrix/schema/apmatrix.schema.json" ]
	# no installed file names the default PREFIX's binary or data
	run grep -rlIF -e /usr/sbin/apmatrix -e /usr/share/apmatrix "$R"
	assert_output ""
	if command -v systemd-analyze >/dev/null; then
		run env MANPATH="$R/usr/local/share/man" systemd-analyze verify --root="$R" "${unit#"$R"}"
		echo "$output"
		assert_success
		assert_output ""
	fi
	run make -C "$TOP" -s "${knobs[@]}" uninstall
	assert_success
	run find "$R" -type f
	assert_output ""

	# SBINDIR, DATADIR, SYSCONFDIR, SYSTEMDUNITDIR and UDEVRULESDIR on their
	# own (a '-' is '\-' in a man page); SYSCONFDIR is compiled in: its own
	# build directory
	R=$BATS_TEST_TMPDIR/knobs
	knobs=(DESTDIR="$R" B="$BATS_TEST_TMPDIR/build" SBINDIR=/opt/apm/bin DATADIR=/opt/ap-data SYSCONFDIR=/opt/etc
		SYSTEMDUNITDIR=/opt/sd-units UDEVRULESDIR=/opt/udev/rules.d SYSTEMCTL=/opt/sd/systemctl)
	run make -C "$TOP" -s -j2 "${knobs[@]}" install
	assert_success
	unit=$(installed apmatrix-apply.service)
	[ "$unit" = "$R/opt/sd-units/apmatrix-apply.service" ]
	run grep '^ExecStart=' "$unit"
	assert_output 'ExecStart=/opt/apm/bin/apmatrix apply'
	[ -x "$R/opt/apm/bin/apmatrix" ]
	man8=$R/usr/share/man/man8/apmatrix.8
	grep -qF '.IR /opt/ap\-data/apmatrix/schema/ .' "$man8"
	[ -f "$R/opt/ap-data/apmatrix/schema/apmatrix.schema.json" ]
	grep -qxF '.I /opt/sd\-units/apmatrix-apply.service' "$man8"
	grep -qxF '.I /opt/udev/rules.d/90-apmatrix.rules' "$man8"
	[ -f "$R/opt/udev/rules.d/90-apmatrix.rules" ]
	# SYSTEMCTL: every rule that starts the unit runs it, nothing else changed
	diff <(sed 's|RUN+="/usr/bin/systemctl |RUN+="/opt/sd/systemctl |; s|/etc/apmatrix\.|/opt/etc/apmatrix.|' \
		"$TOP/rules/90-apmatrix.rules") "$R/opt/udev/rules.d/90-apmatrix.rules"
	run grep -c '^  RUN+="/opt/sd/systemctl --no-block start apmatrix-apply.service"$' "$R/opt/udev/rules.d/90-apmatrix.rules"
	assert_output "$(grep -c 'RUN+=' "$TOP/rules/90-apmatrix.rules")"
	# the configuration: the binary's default, the unit's and the rules'
	# condition, the man pages (the example: where make install put it)
	# (--help wraps its lines)
	run bash -c '"$0" --help | tr -s " \n" " "' "$R/opt/apm/bin/apmatrix"
	assert_output --partial '(default /opt/etc/apmatrix.yaml;'
	assert_output --partial '(default /opt/etc/apmatrix.d;'
	grep -qx 'ConditionPathExists=/opt/etc/apmatrix.yaml' "$unit"
	grep -qF 'TEST!="/opt/etc/apmatrix.yaml"' "$R/opt/udev/rules.d/90-apmatrix.rules"
	grep -qxF '.I /opt/etc/apmatrix.yaml' "$man8"
	grep -qxF '.I /opt/etc/apmatrix.d/*.yaml' "$man8"
	grep -qxF '.I /opt/etc/apmatrix.yaml.example' "$R/usr/share/man/man5/apmatrix.yaml.5"
	[ -f "$R/opt/etc/apmatrix.yaml.example" ]
	[ -d "$R/opt/etc/apmatrix.d" ]
	# the completion's, the schemas' and the example's words about it too
	comp=$(find "$R" -path '*/completions/apmatrix')
	grep -qF '(-c FILE, else /opt/etc/apmatrix.yaml;' "$comp"
	jq -e '.description | startswith("/opt/etc/apmatrix.yaml and /opt/etc/apmatrix.d/*.yaml:")' \
		"$R/opt/ap-data/apmatrix/schema/apmatrix.schema.json" >/dev/null
	grep -qxF '# /opt/etc/apmatrix.yaml.example).  Used as /opt/etc/apmatrix.yaml, with the drop-ins' "$R/opt/etc/apmatrix.yaml.example"
	run grep -lE '(^|[^a-z])/etc/apmatrix\.' "$unit" "$R/opt/udev/rules.d/90-apmatrix.rules" "$man8" \
		"$R/usr/share/man/man5/apmatrix.yaml.5" "$comp" \
		"$R"/opt/ap-data/apmatrix/schema/*.json "$R/opt/etc/apmatrix.yaml.example"
	assert_output ""
	run make -C "$TOP" -s "${knobs[@]}" uninstall
	assert_success
	run find "$R" -type f
	assert_output ""
}

@test "SYSCONFDIR=DIR: apmatrix built with it reads DIR/apmatrix.yaml and DIR/apmatrix.d/ without -c, and --help says so" {
	need_root
	# its own build directory; under /etc, which the simulated host lets write
	b=$BATS_TEST_TMPDIR/build
	run make -C "$TOP" -s -j2 B="$b" SYSCONFDIR=/etc/apm-site "$b/apmatrix"
	assert_success
	# (--help wraps its lines)
	run bash -c '"$0" --help | tr -s " \n" " "' "$b/apmatrix"
	assert_output --partial '(default /etc/apm-site/apmatrix.yaml;'
	assert_output --partial '(default /etc/apm-site/apmatrix.d;'
	echo "A='$b/apmatrix'" >"$BATS_TEST_TMPDIR/vars"
	in_sim "$HOSTS/seed.yaml" <<'EOF'
. $T/vars
# /etc/apmatrix.yaml, which a default build reads, is not valid
echo 'version: 2' > /etc/apmatrix.yaml
expect_exit 65 apmatrix check >/dev/null 2>&1
mkdir -p /etc/apm-site/apmatrix.d
cp "$EXAMPLES/seed-two-guests.yaml" /etc/apm-site/apmatrix.yaml
touch /etc/apm-site/apmatrix.d/30-x.yml
"$A" check --json > $T/out 2> $T/err || die "check: $(cat $T/err)"
jqe '[.guests[].name] == ["guest1", "guest2"] and
	.diagnostics[0].file == "/etc/apm-site/apmatrix.d/30-x.yml"' < $T/out >/dev/null || die "document: $(cat $T/out)"
rm /etc/apm-site/apmatrix.yaml
"$A" check > $T/out 2> $T/err && die "check without a configuration: $(cat $T/out)"
grep -qF '/etc/apm-site/apmatrix.yaml' $T/err || die "message: $(cat $T/err)"
echo OK
EOF
	assert_success
	assert_output --partial OK
}

@test "version: debian/changelog, apmatrix.spec and apmatrix --version all say src/main.c's version" {
	v=$(src_version)
	[ -n "$v" ]
	command -v dpkg-parsechangelog >/dev/null || skip "dpkg-dev not installed"
	[ "$(dpkg-parsechangelog -l "$TOP/debian/changelog" -S Version)" = "$v" ]
	[ "$(sed -n 's/^Version: *//p' "$TOP/apmatrix.spec")" = "$v" ]
	run "$APMATRIX" --version
	assert_output "apmatrix $v"
}
