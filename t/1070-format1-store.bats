#!/usr/bin/env bats
# A store of format 1 (zlib chunks), made by an earlier cdt, keeps working.

load test_helper
load lib-integrity

FIXTURE=$(cd "$BATS_TEST_DIRNAME" && pwd)/fixtures/format1-store.tar.gz

unpack_format1() {
	tar -xzf "$FIXTURE" -C "$T"
	[ "$S" = "$T/store" ]
	mkdir -p src/dir
	gen_bytes 1 300000 > src/a
	"$TEST_TOOL" gen-text 2 50000 > src/b
	cat src/a src/b > src/dir/c
}

@test "a format-1 store restores, verifies and checks clean" {
	unpack_format1
	grep -qx 'format 1' "$S/config"
	run_split c ls
	assert_status 0
	printf 'a\nb\ndir/c\n' > want
	printf '%s\n' "$output" > got
	diff -u want got
	for n in a b dir/c; do
		c cat "$n" > out
		cmp out "src/$n"
	done
	run_split c verify --all
	assert_status 0
	# Made before server info: that it lacks info/ is its one problem.
	run_split c fsck
	assert_status 32
	assert_out_contains "info-stale info: missing (a store made before server info); affects no stored name"
	run_split c fsck --rebuild-refs
	assert_status 0
}

@test "a format-1 store takes new files in its own codec, and stays format 1" {
	unpack_format1
	before=$(cat "$S/config")
	"$TEST_TOOL" gen-text 3 200000 > d
	c add -q d
	[ "$(cat "$S/config")" = "$before" ]
	c cat d > out
	cmp out d
	# Every object it holds is a zlib stream or raw: codec byte 1 or 0.
	for o in $(find "$S/objects" -type f); do
		codec=$(od -An -tu1 -j5 -N1 "$o" | tr -d ' ')
		[ "$codec" = 0 ] || [ "$codec" = 1 ] || fail "object $o has codec $codec"
	done
	run_split c fsck
	assert_status 0
}

@test "a format-1 store is collected and repaired" {
	unpack_format1
	c rm -q a
	run_split c gc
	assert_status 0
	for n in b dir/c; do
		c cat "$n" > out
		cmp out "src/$n"
	done
	# Damage a loose chunk of b; repair it from the file.
	o=$(find "$S/objects" -type f | head -n 1)
	[ -n "$o" ] || o=$(find "$S/packs" -name '*.pack' | head -n 1)
	printf '\x5a\x5a' | dd of="$o" bs=1 seek=20 conv=notrunc status=none
	run_split c fsck
	[ "$status" -ne 0 ] || fail "damage not found"
	run_split c repair --from src/b src/dir/c
	assert_status 0
	run_split c fsck
	assert_status 0
	c cat dir/c > out
	cmp out src/dir/c
}

@test "gc --recompress converts a format-1 store to format 2 in place" {
	unpack_format1
	pack_summary > before
	grep -q ' v1=[1-9].* codecs=[01,]* ' before || fail "fixture: $(cat before)"
	size_before=$(du -sb "$S" | cut -f1)
	run_split c gc --recompress
	assert_status 0
	grep -qx 'format 2' "$S/config" || fail "$(cat "$S/config")"
	grep -qx 'codec zstd' "$S/config" || fail "$(cat "$S/config")"
	grep -qx 'chunk-size 4096' "$S/config" || fail "$(cat "$S/config")"
	pack_summary > after
	read -r line < after
	case "$line" in
	*" v1=0 frames="[1-9]*" deltas="[1-9]*" codecs=2 loose=0"|\
	*" v1=0 frames="[1-9]*" deltas="[1-9]*" codecs=0,2 loose=0") ;;
	*) fail "not converted: $line" ;;
	esac
	size_after=$(du -sb "$S" | cut -f1)
	[ "$size_after" -lt "$size_before" ] || fail "store grew: $size_before -> $size_after"
	run_split c fsck
	assert_status 0
	for n in a b dir/c; do
		c cat "$n" > out
		cmp out "src/$n"
	done
	run_split c verify --all
	assert_status 0
}
