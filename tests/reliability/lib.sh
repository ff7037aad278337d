# Helpers for the reliability runs, sourced inside tests/lib/with-sim
# (tests/reliability/point).  Every check prints "FAIL: ..." to stderr and
# returns non-zero; nothing here writes outside /sys, /etc and /run of the
# simulated host and the run's own directory.

TYPE_DIR=/sys/devices/vfio_ap/matrix/mdev_supported_types/vfio_ap-passthrough
fail() { echo "FAIL: $*" >&2; return 1; }

# mask_bits HEX: the numbers of the set bits of a 0x<64 hex digits> mask
# (bit 0 is the most significant bit of the first digit, as in sysfs).
mask_bits() {
	awk -v m="$1" 'BEGIN {
		m = substr(m, 3)
		for (i = 1; i <= length(m); i++) {
			v = index("0123456789abcdef", tolower(substr(m, i, 1))) - 1
			for (b = 0; b < 4; b++)
				if (int(v / 2 ^ (3 - b)) % 2) printf "%d\n", (i - 1) * 4 + b
		}
	}'
}

# clear_bits HEX: the numbers of the cleared bits (0..255)
clear_bits() {
	comm -23 <(seq 0 255 | sort) <(mask_bits "$1" | sort) | sort -n
}

dump_mask() { sed -n "s/^$1 //p" /sys/.sim/dump; }
state_mask() { sed -n "s/^$1-taken //p" /run/apmatrix/state 2>/dev/null; }
live_mdevs() { ls "$TYPE_DIR/devices" 2>/dev/null | sort; }
state_mdevs() { awk '$1 == "mdev" {print $2}' /run/apmatrix/state 2>/dev/null | sort; }

# reset_host DIR: the by-hand state (setup.sh), checked against DIR/initial.dump
# when that exists.
setup_host() {
	local dir=$1
	bash -e "$dir/setup.sh" || fail "setup.sh failed" || return 1
	echo 0 >/sys/.sim/writes
}

# check_owner DIR STAGE: the ownership records against the live host.
#   - they never claim the foreign mdev, an undeclared UUID, or a mask bit
#     taken by hand (meta HAND_AP, HAND_AQ);
#   - they never lose what apmatrix did: every mdev but the foreign one is
#     recorded, every mask bit cleared since setup (and not by hand) is
#     recorded as taken.
# Claims on things that do not exist (recorded before a create or take that
# never happened) are allowed: the next run prunes them.
check_owner() {
	local dir=$1 stage=$2 u b ok=0
	# shellcheck disable=SC1091
	. "$dir/meta"
	if [ -e /run/apmatrix/state ]; then
		head -1 /run/apmatrix/state | grep -qx 'apmatrix-state 1' || fail "$stage: state header: $(head -1 /run/apmatrix/state)" || ok=1
		ls -A /run/apmatrix | grep -q '\.tmp$' && [ "${ALLOW_TMP:-0}" != 1 ] && { fail "$stage: temp file left: $(ls -A /run/apmatrix)" || ok=1; }
	fi
	for u in $(state_mdevs); do
		[ "$u" != "$FOREIGN" ] || fail "$stage: the records claim the foreign mdev" || ok=1
		grep -qx "$u" "$dir/uuids" || fail "$stage: the records claim undeclared mdev $u" || ok=1
	done
	for u in $(live_mdevs); do
		[ "$u" = "$FOREIGN" ] && continue
		state_mdevs | grep -qx "$u" || fail "$stage: mdev $u exists but is not recorded" || ok=1
	done
	for m in apmask aqmask; do
		local hand init now taken
		if [ $m = apmask ]; then hand=$((HAND_AP)); else hand=$((HAND_AQ)); fi
		init=$(sed -n "s/^$m //p" "$dir/initial.dump")
		now=$(dump_mask $m)
		taken=$(state_mask $m)
		if [ -n "$taken" ]; then
			mask_bits "$taken" | grep -qx "$hand" && { fail "$stage: the records claim $m bit $hand, cleared by hand" || ok=1; }
			# a claim on a bit the initial host did not have is a claim on someone else's change
			for b in $(mask_bits "$taken"); do
				clear_bits "$init" | grep -qx "$b" && { fail "$stage: $m bit $b claimed, but it was clear before apmatrix ran" || ok=1; }
			done
		fi
		for b in $(comm -13 <(clear_bits "$init" | sort) <(clear_bits "$now" | sort) | sort -n); do
			[ -n "$taken" ] && mask_bits "$taken" | grep -qx "$b" && continue
			fail "$stage: $m bit $b is clear but not recorded as taken" || ok=1
		done
		mask_bits "$now" | grep -qx "$hand" && { fail "$stage: $m bit $hand (cleared by hand) was set again" || ok=1; }
	done
	# the foreign mdev is exactly as it was made
	[ "$(foreign_block "$dir/initial.dump")" = "$(foreign_block /sys/.sim/dump)" ] ||
		fail "$stage: the foreign mdev changed: $(foreign_block /sys/.sim/dump)" || ok=1
	return $ok
}

# foreign_block DUMP: the foreign mdev's lines of a dump
foreign_block() {
	awk -v f="$FOREIGN" '/^[^ ]/ { p = ($1 == "mdev" && $2 == f) } p' "$1"
}

# no_foreign_writes: nothing in the write log names the foreign mdev (after setup)
no_foreign_writes() {
	# shellcheck disable=SC1091
	. "$1/meta"
	! grep -q "$FOREIGN" /sys/.sim/writes || fail "written to the foreign mdev: $(grep "$FOREIGN" /sys/.sim/writes)"
}

# converged DIR SCEN STAGE: dump and records equal the fault-free run's
converged() {
	local dir=$1 scen=$2 stage=$3
	diff -u "$dir/ref-$scen.dump" /sys/.sim/dump >"$SCRATCH/diff" 2>&1 ||
		fail "$stage: the host differs from the fault-free run: $(head -c 1500 "$SCRATCH/diff")" || return 1
	diff -u "$dir/ref-$scen.state" /run/apmatrix/state >"$SCRATCH/diff" 2>&1 ||
		fail "$stage: the records differ from the fault-free run: $(head -c 1500 "$SCRATCH/diff")" || return 1
}

# teardown DIR: an empty configuration gives the host back exactly as setup left it
teardown() {
	local dir=$1 rc
	cp "$dir/empty.yaml" /etc/apmatrix.yaml
	apmatrix apply >/dev/null 2>"$SCRATCH/err"
	rc=$?
	[ $rc = 0 ] || fail "teardown: apply exited $rc: $(cat "$SCRATCH/err")" || return 1
	diff -u "$dir/initial.dump" /sys/.sim/dump >"$SCRATCH/diff" 2>&1 ||
		fail "teardown: the host is not as before apmatrix: $(head -c 1500 "$SCRATCH/diff")" || return 1
	[ "$(state_mdevs)" = "" ] && [ -z "$(state_mask apmask)$(state_mask aqmask)" ] ||
		fail "teardown: records left: $(cat /run/apmatrix/state)" || return 1
}

# replay WRITES: make the writes of a write log again, in order
replay() {
	local path value res
	while IFS=$'\t' read -r path value res; do
		printf '%s\n' "$value" >"/sys/$path" || fail "replay: $path $value" || return 1
	done <"$1"
}

# prepare_scen DIR SCEN: setup, and for reconfig the bring-up of a.yaml;
# leaves the target configuration in /etc/apmatrix.yaml and the log empty.
prepare_scen() {
	local dir=$1 scen=$2
	setup_host "$dir" || return 1
	if [ "$scen" = reconfig ] && [ -s "$dir/ref-bringup.writes" ] && [ "${REPLAY:-1}" = 1 ]; then
		# the fault-free bring-up, replayed write by write with its records:
		# the same host as running it, without reading the host twice
		replay "$dir/ref-bringup.writes" || return 1
		mkdir -p -m 0700 /run/apmatrix
		cp "$dir/ref-bringup.state" /run/apmatrix/state
		cp "$dir/b.yaml" /etc/apmatrix.yaml
	elif [ "$scen" = reconfig ]; then
		cp "$dir/a.yaml" /etc/apmatrix.yaml
		apmatrix apply >/dev/null 2>"$SCRATCH/err" || fail "bring-up before reconfig: $(cat "$SCRATCH/err")" || return 1
		cp "$dir/b.yaml" /etc/apmatrix.yaml
	else
		cp "$dir/a.yaml" /etc/apmatrix.yaml
	fi
	echo 0 >/sys/.sim/writes
}
