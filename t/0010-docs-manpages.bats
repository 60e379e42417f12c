#!/usr/bin/env bats
# Man pages and bash completion: one for every command, rendering cleanly,
# and agreeing with what the commands' help says.

load test_helper

TOP=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
DOC=$TOP/Documentation
COMPLETION=$TOP/contrib/completion/cdt.bash

# The tools that render man pages; man-db brings groff and col with it.
need_man() {
	local tool

	for tool in man groff col; do
		if ! command -v "$tool" >/dev/null; then
			skip_or_fail "'$tool' is not installed (apt-get install man-db)"
			return
		fi
	done
}

# The commands in cdt's command table, as 'cdt --help' lists them, to $T/commands.
list_commands() {
	run_split "$CDT" --help
	assert_status 0
	printf '%s\n' "$output" |
		sed -n '/^commands:$/,/^$/s/^   \([a-z][a-z0-9-]*\)  .*/\1/p' >"$T/commands"
	[ -s "$T/commands" ] || fail "no commands found in 'cdt --help': $output"
}

# render PAGE OUT: the page as man shows it, plain text, never wrapped.
render() {
	LC_ALL=C MANWIDTH=1000 man -l "$1" 2>"$T/render.err" | col -b >"$2"
	[ ! -s "$T/render.err" ] || fail "man -l $1: $(cat "$T/render.err")"
}

# section NAME < rendered page: the section's lines, indentation removed.
section() {
	awk -v want="$1" '
		/^[A-Z][A-Z ]*$/ { on = ($0 == want); next }
		on && NF { sub(/^ +/, ""); print }
	'
}

# The options a command's help lists ("    -r, --recursive   ..."), one per line.
help_options() {
	run_split "$CDT" "$1" -h
	assert_status 0
	printf '%s\n' "$output" | sed -n 's/^    \(-.*\)/\1/p' |
		awk -F '  +' '{ print $1 }' | grep -o -- '--*[a-zA-Z][a-zA-Z-]*' >"$2"
	[ -s "$2" ] || fail "no options found in 'cdt $1 -h'"
}

# comp_line WORD...: run the completion as bash would for the line WORD...,
# completing the last word; the candidates go to $T/comp, one per line.
# (Bash splits "--opt=value" into "--opt" "=" "value"; so must callers.)
comp_line() {
	COMP_WORDS=("$@")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMP_LINE="${COMP_WORDS[*]}"
	COMP_POINT=${#COMP_LINE}
	COMPREPLY=()
	_cdt cdt "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
	if [ ${#COMPREPLY[@]} -gt 0 ]; then
		printf '%s\n' "${COMPREPLY[@]}" >"$T/comp"
	else
		: >"$T/comp"
	fi
}

# expect_comp CANDIDATE...: exactly these candidates, in this order.
expect_comp() {
	if [ $# -gt 0 ]; then
		printf '%s\n' "$@" >"$T/comp.want"
	else
		: >"$T/comp.want"
	fi
	diff -u "$T/comp.want" "$T/comp" || fail "wrong completion for: ${COMP_WORDS[*]}"
}

@test "every command in the command table has a man page and a line in cdt(1)" {
	list_commands
	[ -f "$DOC/cdt.1" ] || fail "Documentation/cdt.1 is missing"
	while read -r cmd; do
		[ -f "$DOC/cdt-$cmd.1" ] || fail "Documentation/cdt-$cmd.1 is missing"
	done <"$T/commands"
	sed -n 's/^\.CMD \([^ ]*\) .*/\1/p' "$DOC/cdt.1" >"$T/listed"
	diff -u "$T/commands" "$T/listed" || fail "cdt(1) COMMANDS differs from the command table"
}

@test "every man page's SYNOPSIS is its command's usage lines" {
	need_man
	for page in "$DOC"/cdt-*.1; do
		cmd=${page##*/cdt-}
		cmd=${cmd%.1}
		run_split "$CDT" "$cmd" -h
		assert_status 0
		# The leading "usage:" / "   or:" lines, without those words.
		printf '%s\n' "$output" | sed -n '/^$/q; s/^usage: //p; s/^   or: //p' |
			tr -s ' ' >"$T/usage"
		[ -s "$T/usage" ] || fail "no usage line in 'cdt $cmd -h'"
		render "$page" "$T/page"
		section SYNOPSIS <"$T/page" | tr -s ' ' >"$T/synopsis"
		diff -u "$T/usage" "$T/synopsis" || fail "cdt-$cmd.1: SYNOPSIS differs from 'cdt $cmd -h'"
	done
	run_split "$CDT" --help
	assert_status 0
	printf '%s\n' "$output" | sed -n '/^$/q; s/^usage: //p; s/^       //p' | tr -s ' ' >"$T/usage"
	render "$DOC/cdt.1" "$T/page"
	section SYNOPSIS <"$T/page" | tr -s ' ' >"$T/synopsis"
	diff -u "$T/usage" "$T/synopsis" || fail "cdt.1: SYNOPSIS differs from 'cdt --help'"
}

@test "every man page renders without warnings" {
	need_man
	for page in "$DOC"/*.1; do
		groff -ww -man -z "$page" 2>"$T/groff.err"
		[ ! -s "$T/groff.err" ] || fail "groff warns on $page: $(cat "$T/groff.err")"
		MANROFFSEQ='' MANWIDTH=80 man --warnings -l "$page" >"$T/page" 2>"$T/man.err"
		[ ! -s "$T/man.err" ] || fail "man warns on $page: $(cat "$T/man.err")"
		[ -s "$T/page" ] || fail "man renders $page as nothing"
	done
}

@test "every man page has the required sections in order" {
	for page in "$DOC"/*.1; do
		case $page in
		*/cdt.1)
			want="NAME SYNOPSIS DESCRIPTION COMMANDS ENVIRONMENT FILES EXIT_STATUS EXAMPLES SEE_ALSO" ;;
		*)
			want="NAME SYNOPSIS DESCRIPTION OPTIONS EXIT_STATUS EXAMPLES SEE_ALSO" ;;
		esac
		have=$(sed -n 's/^\.SH "\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$page" | tr ' ' _ | tr '\n' ' ')
		# The required sections must appear in this order; others may come between.
		rest=" $have"
		for s in $want; do
			case $rest in
			*" $s "*) rest=${rest#*" $s "}; rest=" $rest" ;;
			*) fail "$page: section ${s//_/ } missing or out of order (sections: $have)" ;;
			esac
		done
	done
}

@test "every option in a command's help is documented in its man page" {
	need_man
	list_commands
	while read -r cmd; do
		help_options "$cmd" "$T/options"
		render "$DOC/cdt-$cmd.1" "$T/page"
		awk '/^[A-Z][A-Z ]*$/ { on = ($0 == "OPTIONS"); next } on' "$T/page" >"$T/section"
		while read -r opt; do
			grep -Eq -- "^ {7}(-[a-zA-Z], )?$opt([ ,=]|\$)" "$T/section" ||
				fail "cdt-$cmd.1: OPTIONS does not describe $opt"
		done <"$T/options"
	done <"$T/commands"
}

@test "the completion script loads and completes command names" {
	source "$COMPLETION"
	complete -p cdt >/dev/null || fail "the script does not register a completion for cdt"
	comp_line "$CDT" a
	expect_comp add
	comp_line "$CDT" ""
	list_commands
	echo help >>"$T/commands"
	diff -u "$T/commands" "$T/comp" || fail "the completion does not know every command"
	comp_line "$CDT" --st
	expect_comp --store
}

@test "the completion offers every option of each command's help" {
	source "$COMPLETION"
	comp_line "$CDT" add --r
	expect_comp --recursive
	list_commands
	while read -r cmd; do
		help_options "$cmd" "$T/options"
		comp_line "$CDT" "$cmd" -
		while read -r opt; do
			grep -qx -- "$opt" "$T/comp" || fail "'cdt $cmd -<TAB>' does not offer $opt"
		done <"$T/options"
		grep -qx -- --store "$T/comp" || fail "'cdt $cmd -<TAB>' does not offer --store"
	done <"$T/commands"
}

@test "the completion completes option values and --store anywhere" {
	source "$COMPLETION"
	comp_line "$CDT" init --chunker f
	expect_comp fastcdc fixed
	comp_line "$CDT" init --level = 1
	expect_comp 1 10 11 12 13 14 15 16 17 18 19
	comp_line "$CDT" init --codec zlib --level = 1
	expect_comp 1 10 11 12
	comp_line "$CDT" init --codec z
	expect_comp zstd zlib
	comp_line "$CDT" init --shared = ""
	expect_comp group
	echo '*.o' > excludes
	comp_line "$CDT" add --exclude-from exc
	expect_comp excludes
	comp_line "$CDT" add --exclude exc
	expect_comp
	mkdir -p stores/one
	comp_line "$CDT" --store sto
	expect_comp stores
	comp_line "$CDT" ls --store stores/o
	expect_comp stores/one
}

@test "the completion completes stored names for cat and ls, spaces included" {
	source "$COMPLETION"
	init_store
	mkdir -p src/dir
	echo a >"src/dir/with space.txt"
	echo b >src/dir/other
	echo c >src/top
	(cd src && c add -q -r .)
	comp_line "$CDT" --store "$S" cat ""
	expect_comp dir/ top
	comp_line "$CDT" --store "$S" cat dir/w
	expect_comp "dir/with space.txt"
	comp_line "$CDT" --store "$S" cat 'dir/with\ s'
	expect_comp "dir/with space.txt"
	comp_line "$CDT" cat --store "$S" dir/
	expect_comp dir/other "dir/with space.txt"
	CDT_STORE=$S comp_line "$CDT" ls t
	expect_comp top
	# No store: no names, and nothing on the terminal.
	comp_line "$CDT" --store "$T/nothing" cat "" 2>"$T/comp.err"
	expect_comp
	[ ! -s "$T/comp.err" ] || fail "completion printed: $(cat "$T/comp.err")"
}
