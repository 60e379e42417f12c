#!/usr/bin/env bats
# cdt rm with damaged name records: a manifest goes only when the name
# entries themselves show that no name uses it.

load test_helper

# The content id (manifest id) of FILE.
content_of() {
	content_id "$1"
}

# Every name record: PATH (relative to refs/), manifest id, name.
records() {
	"$TEST_TOOL" namerefs "$S"
}

# The table holding the name record of NAME.
table_of() {
	local t
	t=$(records | awk -F'\t' -v n="$1" '$3 == n { print $1 }')
	[ -n "$t" ] || fail "no record of $1"
	printf '%s/refs/%s\n' "$S" "$t"
}

# A name record of NAME (arg 2) under the manifest of FILE (arg 1), in the
# old layout: refs/names/XX/<62 hex of the manifest>/<64 hex of SHA-256(NAME)>.
old_record() {
	local m h
	m=$(content_of "$1")
	h=$(printf '%s' "$2" | sha256sum | cut -c1-64)
	mkdir -p "$S/refs/names/${m:0:2}/${m:2}"
	printf '%s' "$2" > "$S/refs/names/${m:0:2}/${m:2}/$h"
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
	rm "$(table_of b)"
	run_split c rm a
	assert_status 0
	[ "$output" = "removed a
1 name removed, 0 manifests dropped; 0 B in 0 chunks reclaimable by 'cdt gc'" ]
	[ -z "$err" ]
	c cat b > out
	cmp out f
	assert_fsck_only_records "nameref-missing names/b: no name record for it" nameref-missing
}

@test "rm keeps a manifest whose other name's record is in a damaged table" {
	setup_two_names
	t=$(table_of b)
	flip_byte "$t" 40
	run_split c rm a
	assert_status 0
	[ "$output" = "removed a
1 name removed, 0 manifests dropped; 0 B in 0 chunks reclaimable by 'cdt gc'" ]
	[ -z "$err" ]
	c cat b > out
	cmp out f
	assert_fsck_only_records "nameref-missing names/b: no name record for it" nameref-missing
	run_split c fsck -v
	assert_out_contains "garbage-nameref refs/names/$(basename "$t"): damaged table of name records (checksum mismatch)"
	# Derived data: fsck --rebuild-refs drops the table and writes b's record again.
	run_split c fsck --rebuild-refs
	assert_status 0
	assert_out_contains "1 name record added, 2 removed"	# the damaged table, and a's record
	records > recs
	! grep -q "	bad	" recs
	grep -q "	b$" recs
	run_split c fsck
	assert_status 0
	assert_out_contains "no problems found"
}

@test "rm keeps a manifest whose only records name the removed name and a name with other content" {
	setup_two_names
	echo other > g
	c add -q --name c g
	rm "$(table_of b)"
	"$TEST_TOOL" namerefs "$S" "$(content_of f)" c a
	run_split c rm a
	assert_status 0
	[ "$output" = "removed a
1 name removed, 0 manifests dropped; 0 B in 0 chunks reclaimable by 'cdt gc'" ]
	[ -z "$err" ]
	c cat b > out
	cmp out f
	c cat c > out
	cmp out g
	assert_fsck_only_records "nameref-missing names/b: no name record for it" nameref-missing
	run_split c fsck -v
	assert_out_contains "garbage-nameref refs/names/"
	assert_out_contains " (c): record of a name that is gone or holds other content"
}

@test "rm keeps a manifest when every table of name records is gone" {
	setup_two_names
	rm -r "$S/refs/names"
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
	rm "$(table_of b)"
	echo garbage > "$S/names/b"
	run_split c rm a
	assert_status 0
	[ "$output" = "removed a
1 name removed, 0 manifests dropped; 0 B in 0 chunks reclaimable by 'cdt gc'" ]
	[ "$err" = "warning: name 'b' cannot be read (name entry has an impossible length): keeping 1 manifest it may use; run 'cdt fsck'" ]
	[ "$(stored_manifests | wc -l)" = 1 ]
	run_split c fsck
	assert_status 16
	case "$output" in
	*manifest-missing*) fail "fsck finds a missing manifest: $output" ;;
	esac
	run_split c rm b
	assert_status 0
	assert_err_contains "removing damaged name 'b'"
	c gc > gc.out
	[ "$(stored_manifests | wc -l)" = 0 ]
	run_split c fsck
	assert_status 0
}

@test "rm drops a manifest whose only name had no name record" {
	init_store
	gen_bytes 62 300000 > f
	c add -q --name a f
	rm "$(table_of a)"
	run_split c rm a
	assert_status 0
	assert_out_contains "1 name removed, 1 manifest dropped; "
	[ -z "$err" ]
	[ "$(stored_manifests | wc -l)" = 0 ]
	run_split c fsck
	assert_status 0
}

@test "rm -r of many names with misleading records keeps every manifest still used" {
	init_store
	mkdir src
	for i in $(seq 1 60); do gen_bytes "$((100 + i))" 3000 > "src/f$i"; done
	c add -q -r --prefix old src
	# new/ shares the content of f1 to f40; f41 to f60 are old/'s alone.
	mkdir shared
	for i in $(seq 1 40); do cp "src/f$i" shared/; done
	c add -q -r --prefix new shared
	# new/'s records are lost; some manifests get records of names that
	# are removed or never were.
	rm "$(table_of new/shared/f1)"
	for i in $(seq 1 40); do
		case $((i % 3)) in
		0) ;;
		1) "$TEST_TOOL" namerefs "$S" "$(content_of "src/f$i")" "old/src/f$i" ;;
		2) "$TEST_TOOL" namerefs "$S" "$(content_of "src/f$i")" "nothing/f$i" ;;
		esac
	done
	run_split c rm -r old
	assert_status 0
	[ -z "$err" ]
	assert_out_contains "61 names removed, 20 manifests dropped; "
	assert_out_contains " in 20 chunks reclaimable by 'cdt gc'"
	[ "$(stored_manifests | wc -l)" = 40 ]
	for i in $(seq 1 40); do
		c cat "new/shared/f$i" > out
		cmp out "src/f$i"
	done
	run_split c fsck
	assert_status 32
	case "$output" in
	*manifest-missing*) fail "fsck finds a missing manifest: $output" ;;
	esac
	assert_out_contains "40 problems (nameref-missing 40): exit status 32"
	# gc drops every record of no live name, and only those.
	c gc > gc.out
	[ "$(records | awk -F'\t' '$3 !~ /^new\/shared\//' | wc -l)" = 0 ]
	c fsck --rebuild-refs > /dev/null
	[ "$(records | wc -l)" = 40 ]
	run_split c fsck
	assert_status 0
}

@test "name records of the old layout are used by rm, checked by fsck, and moved into a table by gc" {
	setup_two_names
	echo other > g
	c add -q --name c g
	rm -r "$S/refs/names"
	old_record f a
	old_record f b
	old_record g c
	run_split c fsck
	assert_status 0
	assert_out_contains "no problems found"
	# A damaged one and a stray are found.
	old_record g zz
	printf 'x' > "$S/refs/names/$(content_of g | cut -c1-2)/$(content_of g | cut -c3-)/$(printf zz | sha256sum | cut -c1-64)"
	echo junk > "$S/refs/names/$(content_of g | cut -c1-2)/$(content_of g | cut -c3-)/junk"
	run_split c fsck -v
	assert_out_contains "garbage-nameref refs/names/$(content_of g | cut -c1-2)/"
	assert_out_contains "damaged record of no live name"
	assert_out_contains "/junk: not a name record"
	rm "$S/refs/names/$(content_of g | cut -c1-2)/$(content_of g | cut -c3-)/junk"
	# rm finds b through its record, and removes a's.
	run_split c rm a
	assert_status 0
	assert_out_contains "1 name removed, 0 manifests dropped"
	[ "$(records | grep -c '	a$')" = 0 ]
	# gc moves the live records into one table and leaves no directory.
	run_split c gc -v
	assert_status 0
	assert_out_contains "removing name record refs/names/"
	[ "$(find "$S/refs/names" -mindepth 1 -type d | wc -l)" = 0 ]
	[ "$(find "$S/refs/names" -type f | wc -l)" = 1 ]
	[ "$(records | cut -f3 | sort | tr '\n' ' ')" = "b c " ]
	run_split c fsck
	assert_status 0
	assert_out_contains "no problems found"
}

@test "tables merged by an add while fsck lists them are read again, not missed" {
	init_store
	for i in $(seq 1 32); do
		echo "$i" > "f$i"
		c add -q "f$i"
	done
	[ "$(find "$S/refs/names" -name '*.rec' | wc -l)" = 32 ]
	# fsck stops once it has listed the 32 tables; an add then merges them.
	CDT_TEST_PAUSE=nameref-list "$CDT" --store "$S" fsck > fsck.out 2> fsck.err &
	pid=$!
	wait_stopped $pid
	echo 33 > f33
	c add -q f33
	[ "$(find "$S/refs/names" -name '*.rec' | wc -l)" -lt 32 ] || fail "no merge"
	kill -CONT $pid
	rc=0
	wait $pid || rc=$?
	[ "$rc" = 0 ] || fail "fsck exited $rc: $(cat fsck.out fsck.err)"
	grep -q "no problems found" fsck.out
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
	traced -f -y -o trace.log -e trace=openat "$CDT" --store "$S" rm -q -r gone
	[ "$(grep -c 'names/keep>, "f[0-9]*"' trace.log)" = 30 ]
	[ "$(stored_manifests | wc -l)" = 30 ]
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
	rm "$(table_of a2)"
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
