#!/usr/bin/env bats
# cdt rm with damaged name records: a manifest goes only when the name
# entries themselves show that no name uses it.

load test_helper

# The directory of name records of the manifest of FILE's content.
records_dir() {
	local m
	m=$(sha256sum "$1" | cut -c1-64)
	printf '%s\n' "$S/refs/names/${m:0:2}/${m:2}"
}

# The name record of NAME (arg 2) under the manifest of FILE (arg 1).
record_of() {
	local h
	h=$(printf '%s' "$2" | sha256sum | cut -c1-64)
	printf '%s/%s\n' "$(records_dir "$1")" "$h"
}

# fsck finds only the damaged record (exit status 32), no missing manifest.
assert_fsck_only_records() {
	run_split c fsck
	assert_status 32
	case "$output" in
	*manifest-missing*) fail "fsck finds a missing manifest: $output" ;;
	esac
	assert_out_contains "$1"
	assert_out_contains "1 problem ($2 1): exit status 32"
}

setup_two_names() {
	init_store
	gen_bytes 61 400000 > f
	c add -q --name a f
	c add -q --name b f
}

@test "rm keeps a manifest whose other name has lost its name record" {
	setup_two_names
	rm "$(record_of f b)"
	run_split c rm a
	assert_status 0
	[ "$output" = "removed a
1 name removed, 0 manifests dropped; 0 B in 0 chunks reclaimable by 'cdt gc'" ]
	[ -z "$err" ]
	c cat b > out
	cmp out f
	# The removed name's record went, and with it the emptied directory.
	[ ! -e "$(records_dir f)" ]
	assert_fsck_only_records "nameref-missing names/b: no name record for it" nameref-missing
}

@test "rm keeps a manifest whose other name's record holds the removed name" {
	setup_two_names
	printf a > "$(record_of f b)"
	run_split c rm a
	assert_status 0
	[ "$output" = "removed a
1 name removed, 0 manifests dropped; 0 B in 0 chunks reclaimable by 'cdt gc'" ]
	[ -z "$err" ]
	c cat b > out
	cmp out f
	assert_fsck_only_records "nameref-corrupt names/b: name record refs/names/" nameref-corrupt
}

@test "rm keeps a manifest whose other name's record holds a name with other content" {
	setup_two_names
	echo other > g
	c add -q --name c g
	printf c > "$(record_of f b)"
	run_split c rm a
	assert_status 0
	[ "$output" = "removed a
1 name removed, 0 manifests dropped; 0 B in 0 chunks reclaimable by 'cdt gc'" ]
	[ -z "$err" ]
	c cat b > out
	cmp out f
	c cat c > out
	cmp out g
	[ -e "$(record_of f b)" ]
	assert_fsck_only_records "nameref-corrupt names/b: name record refs/names/" nameref-corrupt
}

@test "rm keeps a manifest whose directory of name records is gone" {
	setup_two_names
	rm -r "$(records_dir f)"
	run_split c rm a
	assert_status 0
	[ "$output" = "removed a
1 name removed, 0 manifests dropped; 0 B in 0 chunks reclaimable by 'cdt gc'" ]
	[ -z "$err" ]
	c cat b > out
	cmp out f
	assert_fsck_only_records "nameref-missing names/b: no name record for it" nameref-missing
}

@test "rm keeps a manifest that a damaged name entry may use, and gc takes it once that name is gone" {
	setup_two_names
	rm "$(record_of f b)"
	echo garbage > "$S/names/b"
	run_split c rm a
	assert_status 0
	[ "$output" = "removed a
1 name removed, 0 manifests dropped; 0 B in 0 chunks reclaimable by 'cdt gc'" ]
	[ "$err" = "warning: name 'b' cannot be read (name entry has an impossible length): keeping 1 manifest it may use; run 'cdt fsck'" ]
	[ "$(find "$S/manifests" -type f | wc -l)" = 1 ]
	run_split c fsck
	assert_status 16
	case "$output" in
	*manifest-missing*) fail "fsck finds a missing manifest: $output" ;;
	esac
	run_split c rm b
	assert_status 0
	assert_err_contains "removing damaged name 'b'"
	c gc > gc.out
	[ "$(find "$S/manifests" -type f | wc -l)" = 0 ]
	run_split c fsck
	assert_status 0
}

@test "rm drops a manifest whose only name had no name record" {
	init_store
	gen_bytes 62 300000 > f
	c add -q --name a f
	rm "$(record_of f a)"
	run_split c rm a
	assert_status 0
	assert_out_contains "1 name removed, 1 manifest dropped; "
	[ -z "$err" ]
	[ "$(find "$S/manifests" -type f | wc -l)" = 0 ]
	run_split c fsck
	assert_status 0
}

@test "rm -r of many names with damaged records keeps every manifest still used" {
	init_store
	mkdir src
	for i in $(seq 1 60); do gen_bytes "$((100 + i))" 3000 > "src/f$i"; done
	c add -q -r --prefix old src
	# new/ shares the content of f1 to f40; f41 to f60 are old/'s alone.
	mkdir shared
	for i in $(seq 1 40); do cp "src/f$i" shared/; done
	c add -q -r --prefix new shared
	for i in $(seq 1 40); do
		case $((i % 3)) in
		0) rm "$(record_of "src/f$i" "new/shared/f$i")" ;;
		1) printf '%s' "old/src/f$i" > "$(record_of "src/f$i" "new/shared/f$i")" ;;
		2) rm -r "$(records_dir "src/f$i")" ;;
		esac
	done
	run_split c rm -r old
	assert_status 0
	[ -z "$err" ]
	assert_out_contains "61 names removed, 20 manifests dropped; "
	assert_out_contains " in 20 chunks reclaimable by 'cdt gc'"
	[ "$(find "$S/manifests" -type f | wc -l)" = 40 ]
	for i in $(seq 1 40); do
		c cat "new/shared/f$i" > out
		cmp out "src/f$i"
	done
	run_split c fsck
	assert_status 32
	case "$output" in
	*manifest-missing*) fail "fsck finds a missing manifest: $output" ;;
	esac
	assert_out_contains "40 problems (nameref-missing 26, nameref-corrupt 14): exit status 32"
}

@test "rm -r of many names reads each other name entry once" {
	command -v strace > /dev/null || skip_or_fail "strace is not installed"
	init_store
	mkdir gone keep
	for i in $(seq 1 30); do
		echo "gone $i" > "gone/f$i"
		echo "keep $i" > "keep/f$i"
	done
	c add -q -r gone keep
	# LeakSanitizer cannot run under ptrace; the rest of the sanitizers can.
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
		strace -f -y -o trace.log -e trace=openat "$CDT" --store "$S" rm -q -r gone
	[ "$(grep -c 'names/keep>, "f[0-9]*"' trace.log)" = 30 ]
	[ "$(find "$S/manifests" -type f | wc -l)" = 30 ]
}

@test "the chunks rm reports reclaimable are the garbage stats then finds" {
	init_store
	gen_bytes 63 1000000 > a
	"$TEST_TOOL" gen-text 64 1000000 > b
	cat a b > ab
	c add -q --name a a
	c add -q --name a2 a
	c add -q --name b b
	c add -q --name ab ab
	rm "$(record_of a a2)"
	run_split c rm a ab
	assert_status 0
	assert_out_contains "2 names removed, 1 manifest dropped; "
	printf '%s\n' "$output" | sed -n 's/.* in \([0-9]*\) chunks\{0,1\} reclaimable.*/\1/p' > rm.chunks
	c stats --json > st.json
	grep -q "\"garbage_chunks\":$(cat rm.chunks)," st.json
	[ "$(cat rm.chunks)" -gt 0 ]
	c cat a2 > out
	cmp out a
}
