# bash completion for apmatrix(8): commands, options, --from live|mdevctl,
# for "show" and "guest" the guest names of the configuration in use
# (-c FILE, else /etc/apmatrix.yaml; and the drop-ins of --config-dir), and
# for "help" the commands.
# shellcheck shell=bash disable=SC2207 # COMPREPLY=($(compgen ...)) is the completion idiom
_apmatrix_guests()
{
	local cfg=$1 cfgdir=$2 json
	# -c - reads standard input: there is nothing to ask
	[ "$cfg" = - ] && return
	# an invalid configuration (exit 65) still lists its guests: that is
	# when "show GUEST" is wanted most; no document at all: nothing to offer
	json=$(apmatrix ${cfg:+-c "$cfg"} ${cfgdir:+--config-dir "$cfgdir"} --no-live --json check \
		</dev/null 2>/dev/null)
	[[ $json == "{"* ]] || return
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
	# bash splits --option=VALUE at "=": complete VALUE as after --option VALUE
	if [ "$cur" = = ] && [[ $prev == --* ]]; then
		cur=
	elif [ "$prev" = = ] && ((cword >= 2)); then
		prev=${words[cword - 2]}
	fi
	local commands="check show diff apply status import guest help"
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

	# the words before cur as getopt_long(3) sees them: options (anywhere,
	# until "--") and their values, the command, then its arguments
	local i w val cmd='' nargs=0 cfg='' cfgdir='' dashdash=''
	for ((i = 1; i < cword; i++)); do
		w=${words[i]}
		if [ -n "$dashdash" ] || [[ $w != -?* ]]; then
			if [ -z "$cmd" ]; then
				cmd=$w
			else
				((nargs++))
			fi
			continue
		fi
		case $w in
		--) dashdash=1; continue ;;
		--*=*) val=${w#*=}; w=${w%%=*} ;;
		--config | --config-dir | --wait | --color | --from | --output)
			# the value: the next word, or the one after "=" (--config=FILE split by bash)
			[ "${words[i + 1]}" = = ] && ((i++))
			((i++))
			val=${words[i]} ;;
		--*) continue ;;
		*)
			# short options, maybe bundled: -c and -o take the rest of the word or the next one
			w=${w#-}
			while [[ $w == [jnfqvhV]* ]]; do w=${w#?}; done
			case $w in
			[co]) ((i++)); val=${words[i]} ;;
			[co]?*) val=${w#?} ;;
			*) continue ;;
			esac
			w=-${w:0:1} ;;
		esac
		case $w in
		-c | --config) cfg=$val ;;
		--config-dir) cfgdir=$val ;;
		esac
	done

	if [[ $cur == -* ]] && [ -z "$dashdash" ]; then
		COMPREPLY=($(compgen -W "$options" -- "$cur"))
	elif [ -z "$cmd" ]; then
		COMPREPLY=($(compgen -W "$commands" -- "$cur"))
	elif [ "$cmd" = show ] || [ "$cmd" = guest ]; then
		# show [GUEST], guest GUEST: one guest at most
		[ "$nargs" -eq 0 ] && COMPREPLY=($(compgen -W "$(_apmatrix_guests "$cfg" "$cfgdir")" -- "$cur"))
	elif [ "$cmd" = help ]; then
		# help [COMMAND]
		[ "$nargs" -eq 0 ] && COMPREPLY=($(compgen -W "$commands" -- "$cur"))
	fi
}
complete -F _apmatrix apmatrix
