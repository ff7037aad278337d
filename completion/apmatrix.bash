# bash completion for apmatrix(8): commands, options, --from live|mdevctl,
# and for "show" and "guest" the guest names of the configuration in use
# (-c FILE, else /etc/apmatrix.yaml).
_apmatrix_guests()
{
	local cfg=$1 json
	json=$(apmatrix ${cfg:+-c "$cfg"} --no-live --json check 2>/dev/null) || return
	if type -P jq >/dev/null; then
		jq -r '.guests[].name' <<<"$json" 2>/dev/null
	else
		# without jq: the "name" values of the guests array
		sed -n 's/.*"guests":\[//p' <<<"$json" | grep -o '"name":"[^"]*"' | sed 's/^"name":"//; s/"$//'
	fi
}

_apmatrix()
{
	local cur prev words cword
	_init_completion 2>/dev/null || {
		cur=${COMP_WORDS[COMP_CWORD]}
		prev=${COMP_WORDS[COMP_CWORD - 1]}
		words=("${COMP_WORDS[@]}")
		cword=$COMP_CWORD
	}
	local commands="check show diff apply status import guest"
	local options="-c --config --config-dir -j --json --shell -n --dry-run -f --force
		--no-live --wait --color -q --quiet -v --verbose -h --help -V --version
		--from -o --output --libvirt --qemu"

	case $prev in
	-c | --config | -o | --output)
		COMPREPLY=($(compgen -f -- "$cur"))
		return ;;
	--config-dir)
		COMPREPLY=($(compgen -d -- "$cur"))
		return ;;
	--color)
		COMPREPLY=($(compgen -W "auto always never" -- "$cur"))
		return ;;
	--from)
		COMPREPLY=($(compgen -W "live mdevctl" -- "$cur"))
		return ;;
	--wait)
		return ;;
	esac

	local i cmd= cfg=
	for ((i = 1; i < cword; i++)); do
		case ${words[i]} in
		-c | --config) cfg=${words[i + 1]}; ((i++)) ;;
		--config=*) cfg=${words[i]#--config=} ;;
		--config-dir | --wait | --color | --from | -o | --output) ((i++)) ;;
		-*) ;;
		*) [ -z "$cmd" ] && cmd=${words[i]} ;;
		esac
	done

	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$options" -- "$cur"))
	elif [ -z "$cmd" ]; then
		COMPREPLY=($(compgen -W "$commands" -- "$cur"))
	elif [ "$cmd" = show ] || [ "$cmd" = guest ]; then
		COMPREPLY=($(compgen -W "$(_apmatrix_guests "$cfg")" -- "$cur"))
	fi
}
complete -F _apmatrix apmatrix
