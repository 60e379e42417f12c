#!/usr/bin/env bats
# cdt gc: what it frees, what it keeps, and that repeated cycles converge.

load test_helper

@test "gc frees the chunks of removed files and keeps the rest" {
	init_store
	gen_bytes 1 2000000 > a
	"$TEST_TOOL" gen-text 2 2000000 > b
	cat a b > ab
	c add -q a b ab
	c rm -q ab a
	run_split c gc
	assert_status 0
	assert_out_contains "removed"
	c cat b > out
	cmp out b
	# Only b's chunks remain, packed.
	n=$("$TEST_TOOL" chunk fastcdc 32768 b | wc -l)
	c stats --json > st.json
	grep -q "\"chunks\":$n," st.json
	grep -q '"garbage_chunks":0,' st.json
	grep -q '"reclaimable_bytes":0,' st.json
	[ "$(find "$S/objects" -type f | wc -l)" = 0 ]
}

@test "gc --dry-run reports and changes nothing" {
	init_store
	gen_bytes 3 1000000 > a
	c add -q a
	c rm -q a
	before=$(store_snapshot)
	run_split c gc -n -v
	assert_status 0
	assert_out_contains "would remove pack"
	# The summary counts the chunks of the dead pack.
	printf '%s\n' "$output" | grep -Eq '^would remove [1-9][0-9]* chunks'
	# No line says it did what it only would.
	! printf '%s\n' "$output" | grep -Eq '^(packed|removed|removing|wrote|indexed) ' ||
		fail "a dry run said it did: $output"
	printf '%s\n' "$output" | grep -Eq '^would pack 0 loose chunks; would rewrite or remove 1 pack$' ||
		fail "no line of the packs it would remove: $output"
	[ "$(store_snapshot)" = "$before" ]
	run_split c gc -v
	assert_status 0
	assert_out_contains "removing pack"
	[ "$(find "$S/objects" "$S/packs" -type f | wc -l)" = 0 ]
}

@test "gc removes leftovers of a killed add" {
	init_store
	gen_bytes 4 3000000 > f
	CDT_TEST_CRASH=manifest run_split c add f
	[ "$status" -eq 137 ]
	run_split c gc
	assert_status 0
	[ "$(find "$S/objects" "$S/tmp" "$S/manifests" -type f | wc -l)" = 0 ]
	[ "$(find "$S/refs/chunks" -type f | wc -l)" = 0 ]
}

@test "gc removes the manifests of a killed add and the references --rebuild-refs kept of them" {
	init_store
	gen_bytes 5 3000000 > f
	gen_bytes 6 200000 > g
	c add -q g
	# Killed with f's manifest in place but its name not.
	CDT_TEST_CRASH=name run_split c add f
	[ "$status" -eq 137 ]
	run_split c fsck --rebuild-refs
	assert_status 0
	run_split c gc
	assert_status 0
	[ "$(find "$S/objects" "$S/tmp" -type f | wc -l)" = 0 ]
	[ "$(find "$S/manifests" -type f | wc -l)" = 1 ] || fail "f's manifest was kept"
	run_split c fsck -v
	assert_status 0
	case "$output" in *garbage-*) fail "gc left garbage: $output" ;; esac
	c cat -o out g
	cmp -s out g
	# f again: stored afresh, its references with it.
	c add -q f
	run_split c fsck -v
	assert_status 0
	case "$output" in *garbage-*) fail "garbage after the add: $output" ;; esac
	c cat -o out f
	cmp -s out f
}

@test "a manifest gc cannot remove keeps its references, so adding its content again leaves fsck clean" {
	command -v chattr > /dev/null || skip "chattr is not installed"
	init_store
	gen_bytes 7 300000 > f
	# Killed with f's manifest in place but its name not: garbage for gc.
	CDT_TEST_CRASH=name run_split c add f
	[ "$status" -eq 137 ]
	m=$(find "$S/manifests" -type f)
	[ -n "$m" ]
	chattr +i "$m" 2> /dev/null || skip "this file system has no immutable files (chattr +i)"
	run_split c gc
	chattr -i "$m"
	assert_status 1
	assert_err_contains "cannot remove manifest"
	[ -f "$m" ]
	# Garbage, with its references: nothing for fsck to complain of.
	run_split c fsck
	assert_status 0
	# f again: its manifest is found stored and used; its references must be there.
	c add -q f
	run_split c fsck
	assert_status 0
	c cat f | cmp - f
}

@test "add, rm everything, gc: the store returns to the size of a new one" {
	init_store
	empty=$(du -sb "$S" | cut -f1)
	for round in 1 2 3; do
		for i in 1 2 3 4 5; do gen_bytes $((round * 10 + i)) $((i * 300000)) > f$i; done
		"$TEST_TOOL" gen-text $round 2000000 > t
		c add -q f1 f2 f3 f4 f5 t
		c add -q --name copy f3
		c rm -q f1 f2 f3 f4 f5 t copy
		c gc > /dev/null
		now=$(du -sb "$S" | cut -f1)
		# Within a few KiB of a new store (directories the store created).
		[ "$now" -le $((empty + 16384)) ] || fail "round $round: $now bytes vs $empty new"
	done
	# (and the server info's empty lists of packs, manifest packs and of tables, and the
	# files cache: an add records files changed more than 2 seconds before
	# it reads them, as happens on a loaded machine; entries for content
	# that is gone are never trusted, and age out)
	left=$(find "$S" -type f ! -name config ! -name config.copy ! -name lock ! -path "$S/info/packs" \
		! -path "$S/info/mpacks" ! -path "$S/info/prefixes" ! -path "$S/cache/files")
	[ -z "$left" ] || fail "files left: $left"
}

@test "gc refuses to run when a name is damaged, and deletes nothing" {
	init_store
	gen_bytes 5 500000 > a
	c add -q a
	c add -q --name b a
	c rm -q b
	echo garbage > "$S/names/a"
	echo stale > "$S/tmp/leftover"
	before=$(store_snapshot)
	run_split c gc
	assert_status 1
	assert_err_contains "not collecting garbage"
	[ "$(store_snapshot)" = "$before" ]
}

@test "gc never deletes a chunk a concurrent add needs" {
	init_store
	gen_bytes 6 4000000 > base
	for i in 1 2 3 4 5 6; do
		{ cat base; gen_bytes $((100 + i)) 500000; } > v$i
	done
	c add -q --name seed base
	for round in 1 2 3; do
		c rm -q seed
		# gc and adds that share all of base's chunks, at once.
		c gc > /dev/null &
		g=$!
		for i in 1 2 3 4 5 6; do c add -q --name "r$round/v$i" v$i & done
		wait $g
		wait
		c add -q --name seed base
		c gc > /dev/null
		for i in 1 2 3 4 5 6; do
			c cat "r$round/v$i" > out
			cmp out v$i
		done
	done
	run_split c stats --json
	assert_status 0
	assert_out_contains '"missing_chunks":0'
}

@test "gc interrupted at random moments is safe to rerun" {
	init_store
	for i in $(seq 1 8); do gen_bytes $i 400000 > f$i; done
	c add -q f*
	c rm -q f1 f3 f5 f7
	for i in $(seq 1 15); do
		# The cdt process itself, not a subshell around it, must die.
		"$CDT" --store "$S" gc > /dev/null 2>&1 &
		p=$!
		sleep "0.0$((RANDOM % 10))"
		kill -9 $p 2>/dev/null || true
		wait $p 2>/dev/null || true
		for f in f2 f4 f6 f8; do c cat $f > out; cmp out $f; done
	done
	c gc > /dev/null
	for f in f2 f4 f6 f8; do c cat $f > out; cmp out $f; done
	run_split c stats --json
	assert_out_contains '"reclaimable_bytes":0'
}
