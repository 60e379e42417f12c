#!/usr/bin/env bats
# The progress line: on a terminal only, --progress and --no-progress, and one format for every command.

load test_helper
load lib-integrity

ERASE=$'\r\033[K'

# Run cdt with stderr on a terminal (a pty from script(1)), stdout to $T/tty.out;
# what the terminal showed goes to $T/tty.log, and $tty holds it.
on_tty() {
	command -v script >/dev/null || skip_or_fail "script(1) (util-linux) is not installed"
	local cmd="\"$CDT\" --store \"$S\""
	local a
	for a in "$@"; do
		cmd+=" $(printf '%q' "$a")"
	done
	status=0
	script -qec "$cmd >\"$T/tty.out\"" /dev/null > "$T/tty.log" 2>&1 < /dev/null || status=$?
	tty=$(cat "$T/tty.log")
}

assert_tty_contains() {
	case "$tty" in
	*"$1"*) ;;
	*) fail "the terminal did not show '$1': $(cat -v "$T/tty.log")" ;;
	esac
}

assert_no_progress_on_tty() {
	case "$tty" in
	*$'\033[K'*) fail "a progress line was shown: $(cat -v "$T/tty.log")" ;;
	esac
}

big_store() {
	init_store --chunker fixed --chunk-size 64K
	gen_bytes 1 3000000 > big
	gen_bytes 2 1000000 > small
	c add -q big small
}

@test "on a terminal, cat -o shows the percentage of the stored size" {
	big_store
	on_tty cat -o out big
	assert_status 0
	cmp big out
	assert_tty_contains "${ERASE}big  "
	assert_tty_contains "% "
	assert_tty_contains " of 2.9 MiB"
	# The line is taken away at the end.
	[ "${tty: -4}" = "$ERASE" ] || fail "the line was left up: $(cat -v "$T/tty.log")"
}

@test "on a terminal, verify counts every name's bytes in one total" {
	big_store
	on_tty verify big small
	assert_status 0
	assert_tty_contains " of 3.8 MiB"
	# The end of the last name is shown before the line goes.
	assert_tty_contains "${ERASE}small  100%  3.8 MiB of 3.8 MiB"
	on_tty verify --all
	assert_status 0
	assert_tty_contains " of 3.8 MiB"
}

@test "on a terminal, fsck shows its phases, the check of chunk data as a percentage" {
	big_store
	on_tty fsck
	assert_status 0
	assert_tty_contains "${ERASE}fsck: reading names  "
	assert_tty_contains "${ERASE}fsck: checking packs  0/1"
	assert_tty_contains "${ERASE}fsck: checking chunks  100%  3.8 MiB of 3.8 MiB"
}

@test "cat to a terminal shows no progress line over the data" {
	big_store
	printf 'hello\n' > h
	c add -q h
	command -v script >/dev/null || skip_or_fail "script(1) (util-linux) is not installed"
	script -qec "\"$CDT\" --store \"$S\" cat h" /dev/null > log 2>&1 < /dev/null
	printf 'hello\r\n' > want
	cmp want log
}

@test "without a terminal only the results are printed" {
	big_store
	run_split c cat -o out big
	assert_status 0
	[ -z "$err" ]
	run_split c verify big small
	assert_status 0
	[ -z "$err" ]
	[ "$output" = "verified 2 names, 3.8 MiB in ${output#*MiB in }" ]
	run_split c fsck
	assert_status 0
	[ -z "$err" ]
	run_split c repair --from big
	assert_status 0
	[ -z "$err" ]
	c rm small >/dev/null
	run_split c gc
	assert_status 0
	[ -z "$err" ]
}

@test "--progress shows the line without a terminal" {
	big_store
	run_split c cat --progress -o out big
	assert_status 0
	cmp big out
	assert_err_contains "${ERASE}big  "
	assert_err_contains " of 2.9 MiB"
	run_split c cat -o out2 big --progress
	assert_status 0
	cmp big out2
	assert_err_contains "${ERASE}big  100%  2.9 MiB of 2.9 MiB"
	run_split c verify --all --progress
	assert_status 0
	assert_err_contains " of 3.8 MiB"
	run_split c fsck --progress
	assert_status 0
	assert_err_contains "${ERASE}fsck: checking chunks  "
	run_split c repair --progress --from big
	assert_status 0
	assert_err_contains "${ERASE}repair: checking chunks  "
}

@test "--progress shows how far gc is in rewriting packs" {
	init_store
	gen_bytes 1 2000000 > a
	gen_bytes 2 2000000 > b
	cat a b > ab
	c add -q ab
	c add -q b
	c rm ab >/dev/null
	run_split c gc --progress
	assert_status 0
	assert_err_contains "${ERASE}gc: rewriting packs  "
	assert_err_contains "100%"
	assert_out_contains "wrote 1 pack, removed 1"
	c cat b > got
	cmp b got
}

@test "--no-progress on a terminal shows nothing, and the last of the two wins" {
	big_store
	on_tty verify --no-progress big
	assert_status 0
	assert_no_progress_on_tty
	on_tty fsck --progress --no-progress
	assert_status 0
	assert_no_progress_on_tty
	run_split c fsck --no-progress --progress
	assert_status 0
	assert_err_contains "${ERASE}fsck: "
	# After "--", it is an argument.
	run_split c cat --no-progress -- --progress
	assert_status 1
	assert_err_contains "no such name: '--progress'"
}

@test "commands that show no progress refuse --progress" {
	big_store
	run_split c ls --progress
	assert_status 2
	assert_err_contains "unknown option '--progress'"
	run_split c stats --no-progress
	assert_status 2
	assert_err_contains "unknown option '--no-progress'"
}

@test "an error while the line is up starts on a line of its own" {
	init_store --chunker fixed --chunk-size 4K
	gen_bytes 4 24000000 > f
	c add -q f
	last=$(piece_id f $((24000000 - 24000000 % 4096 - 4096)) 4096)
	damage_chunk "$last"
	run_split c cat --progress -o out f
	assert_status 1
	assert_err_contains "${ERASE}f  "
	# (The damaged frame may take chunks before it along.)
	assert_err_contains "${ERASE}error: cannot read 'f' at offset "
	run_split c cat -o out f
	assert_status 1
	assert_one_line_err
}

@test "a name too long for the terminal loses its beginning, not the figures" {
	init_store
	long=$(printf 'd%.0s' $(seq 1 150))/file
	mkdir -p "$(dirname "$long")"
	gen_bytes 3 500000 > "$long"
	c add -q "$long"
	command -v script >/dev/null || skip_or_fail "script(1) (util-linux) is not installed"
	script -qec "stty cols 60; \"$CDT\" --store \"$S\" cat -o out $long" /dev/null > log 2>&1 < /dev/null
	tr '\r' '\n' < log | sed 's/^\x1b\[K//' | grep . > lines || true
	while IFS= read -r line; do
		[ "${#line}" -le 59 ] || fail "line of ${#line} columns: $line"
		case "$line" in
		...d*"/file  "*" of 488.3 KiB") ;;
		*) fail "unexpected line: $line" ;;
		esac
	done < lines
	[ -s lines ] || fail "no progress line shown"
}
