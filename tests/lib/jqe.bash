# shellcheck shell=bash
# jqe FILTER [FILE...]: jq -e FILTER, and the input must be exactly one JSON
# value.  jq 1.6's -e exits 0 when there is no input at all, so a command
# that printed nothing would pass a plain jq -e.  Sourced by the bats files
# and by the scripts they run on the simulated host.
jqe() {
	local filter=$1
	shift
	jq -e -s "length == 1 and (.[0] | $filter)" "$@"
}
