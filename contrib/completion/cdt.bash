# cdt.bash: bash completion for cdt(1).
#
# Completes the commands, each command's options and their values, --store
# DIR anywhere on the line, and stored names (by running 'cdt ls' quietly on
# the store the line names). Needs bash 4 and nothing else.
#
# Adding a command: its name in __cdt_commands and one case in _cdt.

__cdt_commands="add cat diff fsck gc hash init ls mount pull push repair restore rm stats umount verify"

# REPLY = word with its shell quoting removed (backslashes, single and
# double quotes; an unfinished quote is fine) and a leading ~/ expanded.
# Nothing is evaluated: the line being completed is only text.
__cdt_dequote()
{
	local w=$1 out='' q='' c i

	for ((i = 0; i < ${#w}; i++)); do
		c=${w:i:1}
		if [[ $q == "'" ]]; then
			if [[ $c == "'" ]]; then q=; else out+=$c; fi
		elif [[ $c == "\\" ]]; then
			i=$((i + 1))
			if [[ $q == '"' && ${w:i:1} != [\$\`\"\\] ]]; then
				out+=$c
			fi
			out+=${w:i:1}
		elif [[ $q == '"' ]]; then
			if [[ $c == '"' ]]; then q=; else out+=$c; fi
		elif [[ $c == "'" || $c == '"' ]]; then
			q=$c
		else
			out+=$c
		fi
	done
	if [[ $w == \~ ]]; then
		out=$HOME
	elif [[ $w == \~/* ]]; then
		out=$HOME/${out#\~/}
	fi
	REPLY=$out
}

# REPLY = the whole word under the cursor, dequoted. Bash splits words at
# ':' and '=' too (COMP_WORDBREAKS), so the word bash hands us may be only
# the part after one of them; the names we offer must match the whole word.
__cdt_whole_word()
{
	local line q='' c i start=0

	if [[ -z ${COMP_LINE+set} ]]; then
		__cdt_dequote "$1"
		return 0
	fi
	line=${COMP_LINE:0:${COMP_POINT:-${#COMP_LINE}}}
	for ((i = 0; i < ${#line}; i++)); do
		c=${line:i:1}
		if [[ $q == "'" ]]; then
			[[ $c == "'" ]] && q=
		elif [[ $c == "\\" ]]; then
			i=$((i + 1))
		elif [[ $q == '"' ]]; then
			[[ $c == '"' ]] && q=
		elif [[ $c == "'" || $c == '"' ]]; then
			q=$c
		elif [[ $c == [[:space:]] ]]; then
			start=$((i + 1))
		fi
	done
	__cdt_dequote "${line:start}"
}

# Offer the words of $2 (one per line) that start with $1.
__cdt_offer()
{
	local w

	while IFS= read -r w; do
		[[ $w == "$1"* ]] && COMPREPLY+=("$w")
	done <<<"$2"
	return 0
}

# Offer the stored names that start with the whole word under the cursor,
# one component at a time: "nightly/" rather than every name under it.
__cdt_names()
{
	local full lead name rest last='' i
	local -a store_arg=()

	__cdt_whole_word "$1"
	full=$REPLY
	__cdt_dequote "$1"
	lead=${full%"$REPLY"}
	[[ -n $__cdt_store ]] && store_arg=(--store "$__cdt_store")
	while IFS= read -r name; do
		[[ $name == "$full"* ]] || continue
		rest=${name:${#full}}
		[[ $rest == */* ]] && name=$full${rest%%/*}/
		# 'cdt ls' output is sorted, so repeats are adjacent.
		[[ $name == "$last" ]] && continue
		last=$name
		COMPREPLY+=("${name#"$lead"}")
	done < <(
		if [[ $full == */* ]]; then
			"$__cdt_bin" "${store_arg[@]}" ls -t fl -- "${full%/*}"
		else
			"$__cdt_bin" "${store_arg[@]}" ls -t fl
		fi 2>/dev/null
	)
	for i in "${!COMPREPLY[@]}"; do
		[[ -n ${COMPREPLY[i]} ]] || unset 'COMPREPLY[i]'
	done
	COMPREPLY=("${COMPREPLY[@]}")
	# Let readline quote what it inserts (names can hold spaces); compopt
	# fails outside a completion, as when a test calls _cdt.
	compopt -o filenames 2>/dev/null || true
	if ((${#COMPREPLY[@]} == 1)) && [[ ${COMPREPLY[0]} == */ ]]; then
		compopt -o nospace 2>/dev/null || true
	fi
	return 0
}

__cdt_files()
{
	local IFS=$'\n'

	__cdt_dequote "$1"
	compopt -o filenames 2>/dev/null || true
	# shellcheck disable=SC2207 # split on newlines only (IFS)
	COMPREPLY=($(compgen -f -- "$REPLY"))
	return 0
}

# How many arguments (not options, nor the value of -j) come between the
# command at word $1 and the word being completed.
__cdt_args_before()
{
	local n=0 j
	for ((j = $1 + 1; j < COMP_CWORD; j++)); do
		case ${COMP_WORDS[j]} in
		-j|--jobs) j=$((j + 1)) ;;
		-*) ;;
		*) n=$((n + 1)) ;;
		esac
	done
	echo "$n"
}

__cdt_dirs()
{
	local IFS=$'\n'

	__cdt_dequote "$1"
	compopt -o filenames 2>/dev/null || true
	# shellcheck disable=SC2207 # split on newlines only (IFS)
	COMPREPLY=($(compgen -d -- "$REPLY"))
	return 0
}

_cdt()
{
	local cur=${2-${COMP_WORDS[COMP_CWORD]}} prev cmd='' cmdi=0 w i dashdash=''
	local __cdt_bin=cdt __cdt_store=''

	COMPREPLY=()
	# "--opt=value" arrives as "--opt" "=" "value".
	if [[ ${COMP_WORDS[COMP_CWORD]} == = ]]; then
		cur='' prev=${COMP_WORDS[COMP_CWORD - 1]}
	elif ((COMP_CWORD > 1)) && [[ ${COMP_WORDS[COMP_CWORD - 1]} == = ]]; then
		prev=${COMP_WORDS[COMP_CWORD - 2]}
	else
		prev=${COMP_WORDS[COMP_CWORD - 1]}
	fi

	__cdt_dequote "${COMP_WORDS[0]}"
	[[ $REPLY == */* ]] && __cdt_bin=$REPLY

	# Find the command and any --store before the word being completed.
	for ((i = 1; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		if [[ -n $dashdash ]]; then
			continue
		elif [[ $w == -- ]]; then
			dashdash=1
		elif [[ $w == --store ]]; then
			[[ ${COMP_WORDS[i + 1]} == = ]] && i=$((i + 1))
			((i + 1 < COMP_CWORD)) || break
			i=$((i + 1))
			__cdt_dequote "${COMP_WORDS[i]}"
			__cdt_store=$REPLY
		elif [[ $w == --store=* ]]; then
			__cdt_dequote "${w#--store=}"
			__cdt_store=$REPLY
		elif [[ $w == --cache || $w == --cache-size || $w == --seed ]]; then
			[[ ${COMP_WORDS[i + 1]} == = ]] && i=$((i + 1))
			i=$((i + 1))
		elif [[ -z $cmd && $w != -* && $w != = ]]; then
			cmd=$w cmdi=$i
		fi
	done

	if [[ -z $dashdash && ($prev == --store || $prev == --cache) ]]; then
		__cdt_dirs "$cur"
		return 0
	fi
	if [[ -z $dashdash && $prev == --seed ]]; then
		__cdt_files "$cur"
		return 0
	fi
	if [[ -z $dashdash && $prev == --cache-size ]]; then
		__cdt_offer "$cur" $'512M\n1G\n10G'
		return 0
	fi

	if [[ -z $cmd ]]; then
		if [[ $cur == -* ]]; then
			__cdt_offer "$cur" $'--store\n--cache\n--cache-size\n--seed\n--help\n--version\n-h'
		else
			# shellcheck disable=SC2086 # a list of words
			__cdt_offer "$cur" "$(printf '%s\n' $__cdt_commands help)"
		fi
		return 0
	fi

	# One case per command: option values, options, then arguments.
	case $cmd in
	add)
		case $prev in
		--name|--prefix|-j|--jobs|--exclude)
			return 0 ;;
		--exclude-from)
			__cdt_files "$cur"
			return 0 ;;
		esac
		if [[ -z $dashdash && $cur == -* ]]; then
			__cdt_offer "$cur" $'-r\n--recursive\n--exclude\n--exclude-from\n-x\n--one-file-system\n--xattrs\n--no-cache\n--name\n--prefix\n--no-replace\n--porcelain\n--json\n-j\n--jobs\n-q\n--quiet\n--progress\n--no-progress\n-h\n--help\n--store'
		else
			__cdt_files "$cur"
		fi
		;;
	cat)
		case $prev in
		-o|--output)
			__cdt_files "$cur"
			return 0 ;;
		-j|--jobs)
			return 0 ;;
		esac
		if [[ -z $dashdash && $cur == -* ]]; then
			__cdt_offer "$cur" $'-o\n--output\n-j\n--jobs\n--progress\n--no-progress\n-h\n--help\n--store'
		else
			__cdt_names "$cur"
		fi
		;;
	diff)
		if [[ -z $dashdash && $cur == -* ]]; then
			__cdt_offer "$cur" $'--stat\n--porcelain\n--json\n--exit-code\n-q\n--quiet\n-h\n--help\n--store'
		else
			__cdt_names "$cur"
		fi
		;;
	fsck)
		case $prev in
		-j|--jobs)
			return 0 ;;
		esac
		if [[ -z $dashdash && $cur == -* ]]; then
			__cdt_offer "$cur" $'--quick\n--rebuild-refs\n--json\n-v\n--verbose\n-j\n--jobs\n--progress\n--no-progress\n-h\n--help\n--store'
		fi
		;;
	gc)
		case $prev in
		--level)
			__cdt_offer "$cur" "$(seq 1 19)"
			return 0 ;;
		esac
		if [[ -z $dashdash && $cur == -* ]]; then
			__cdt_offer "$cur" $'-n\n--dry-run\n-v\n--verbose\n--recompress\n--level\n--progress\n--no-progress\n-h\n--help\n--store'
		fi
		;;
	help)
		# shellcheck disable=SC2086 # a list of words
		__cdt_offer "$cur" "$(printf '%s\n' $__cdt_commands)"
		;;
	init)
		case $prev in
		--chunker)
			__cdt_offer "$cur" $'fastcdc\nfixed'
			return 0 ;;
		--codec)
			__cdt_offer "$cur" $'zstd\nzlib'
			return 0 ;;
		--content-id)
			__cdt_offer "$cur" $'tree\nsha256'
			return 0 ;;
		--level)
			if [[ " ${COMP_WORDS[*]} " == *" zlib "* ]]; then
				__cdt_offer "$cur" "$(printf '%s\n' {0..12})"
			else
				__cdt_offer "$cur" "$(printf '%s\n' {1..19})"
			fi
			return 0 ;;
		--shared)
			__cdt_offer "$cur" group
			return 0 ;;
		--chunk-size|--frame-size)
			return 0 ;;
		esac
		if [[ -z $dashdash && $cur == -* ]]; then
			__cdt_offer "$cur" $'--chunker\n--chunk-size\n--codec\n--level\n--frame-size\n--content-id\n--no-deltas\n--shared\n-q\n--quiet\n-h\n--help\n--store'
		else
			__cdt_dirs "$cur"
		fi
		;;
	ls)
		if [[ $prev == -t || $prev == --type ]]; then
			__cdt_offer "$cur" $'f\nd\nl\nfl'
			return 0
		fi
		if [[ -z $dashdash && $cur == -* ]]; then
			__cdt_offer "$cur" $'-l\n--long\n--json\n-t\n--type\n-h\n--help\n--store'
		else
			__cdt_names "$cur"
		fi
		;;
	mount)
		if [[ $prev == -o ]]; then
			__cdt_offer "$cur" $'cache_size=\nreadahead=\nrefresh=\nremote_refresh=\nloaders=\nlog=\ndebug\nallow_other'
			compopt -o nospace 2>/dev/null || true
			return 0
		fi
		if [[ -z $dashdash && $cur == -* ]]; then
			__cdt_offer "$cur" $'-f\n--foreground\n-o\n-h\n--help\n--store'
		else
			__cdt_dirs "$cur"
		fi
		;;
	repair)
		case $prev in
		--from)
			__cdt_files "$cur"
			return 0 ;;
		--scan)
			__cdt_dirs "$cur"
			return 0 ;;
		-j|--jobs)
			return 0 ;;
		esac
		if [[ -z $dashdash && $cur == -* ]]; then
			__cdt_offer "$cur" $'--from\n--scan\n-j\n--jobs\n--progress\n--no-progress\n-h\n--help\n--store'
		else
			# More FILEs after --from, more DIRs after --scan: both are paths.
			__cdt_files "$cur"
		fi
		;;
	restore)
		case $prev in
		-j|--jobs)
			return 0 ;;
		esac
		if [[ -z $dashdash && $cur == -* ]]; then
			__cdt_offer "$cur" $'-n\n--dry-run\n-v\n--verbose\n-q\n--quiet\n--xattrs\n--no-owner\n-j\n--jobs\n--progress\n--no-progress\n-h\n--help\n--store'
		else
			# PREFIX (a stored name), then DIR (a local directory).
			if (($(__cdt_args_before "$cmdi") == 0)); then
				__cdt_names "$cur"
			else
				__cdt_dirs "$cur"
			fi
		fi
		;;
	rm)
		if [[ -z $dashdash && $cur == -* ]]; then
			__cdt_offer "$cur" $'-r\n--recursive\n--ignore-missing\n-n\n--dry-run\n-q\n--quiet\n-h\n--help\n--store'
		else
			__cdt_names "$cur"
		fi
		;;
	push|pull)
		if [[ $prev == -j || $prev == --jobs ]]; then
			return 0
		fi
		if [[ -z $dashdash && $cur == -* ]]; then
			__cdt_offer "$cur" $'-f\n--force\n-n\n--dry-run\n-v\n--verbose\n-j\n--jobs\n-h\n--help\n--store'
		else
			# The other store (a directory), then prefixes: names of the
			# source, which for push is this store.
			if (($(__cdt_args_before "$cmdi") == 0)); then
				__cdt_dirs "$cur"
			elif [[ $cmd == push ]]; then
				__cdt_names "$cur"
			fi
		fi
		;;
	hash)
		if [[ -z $dashdash && $cur == -* ]]; then
			__cdt_offer "$cur" $'-h\n--help\n--store'
		else
			__cdt_files "$cur"
		fi
		;;
	stats)
		if [[ -z $dashdash && $cur == -* ]]; then
			__cdt_offer "$cur" $'--json\n-h\n--help\n--store'
		else
			__cdt_names "$cur"
		fi
		;;
	umount)
		if [[ -z $dashdash && $cur == -* ]]; then
			__cdt_offer "$cur" $'-h\n--help\n--store'
		else
			# The mount points of cdt views (/proc/mounts escapes a space as \040).
			__cdt_dequote "$cur"
			__cdt_offer "$REPLY" "$(awk '$3 == "fuse.cdt" { gsub(/\\040/, " ", $2); print $2 }' \
				/proc/mounts 2>/dev/null)"
			compopt -o filenames 2>/dev/null || true
		fi
		;;
	verify)
		case $prev in
		--against)
			__cdt_files "$cur"
			return 0 ;;
		-j|--jobs)
			return 0 ;;
		esac
		if [[ -z $dashdash && $cur == -* ]]; then
			__cdt_offer "$cur" $'--all\n--against\n--json\n-v\n--verbose\n-j\n--jobs\n--progress\n--no-progress\n-h\n--help\n--store'
		else
			__cdt_names "$cur"
		fi
		;;
	esac
	return 0
}

complete -F _cdt cdt
