#!/usr/bin/env bats
# Deduplication: identical and shifted content is stored once.

load test_helper

objects() {
	find "$S/objects" -type f | wc -l
}

@test "the same file added twice is stored once" {
	init_store
	gen_bytes 1 3000000 > f
	c add -q f
	n=$(objects)
	before=$(du -sb "$S/objects" | cut -f1)
	run_split c add --name again f
	assert_status 0
	assert_out_contains "already stored"
	[ "$(objects)" = "$n" ]
	[ "$(du -sb "$S/objects" | cut -f1)" = "$before" ]
	run_split c add --porcelain --name third f
	# name, size, new stored bytes, content id
	[ "$(printf '%s' "$output" | cut -f3)" = 0 ]
}

@test "repeated content within one file is stored once" {
	init_store
	gen_bytes 2 1000000 > block
	cat block block block block > f
	run_split c add --porcelain f
	assert_status 0
	new=$(printf '%s' "$output" | cut -f3)
	# Four copies cost little more than one.
	[ "$new" -lt 1300000 ]
	c cat f > out
	cmp out f
}

@test "bytes inserted near the start change only the chunks around the edit" {
	init_store
	gen_bytes 3 8000000 > v1
	{ head -c 5000 v1; printf 'INSERTED'; tail -c +5001 v1; } > v2
	c add -q v1
	run_split c add --porcelain v2
	assert_status 0
	new=$(printf '%s' "$output" | cut -f3)
	# At most a few 64 KiB-average chunks are new (max chunk is 256 KiB).
	[ "$new" -lt 600000 ]
	c cat v2 > out
	cmp out v2
}

@test "an edit in a fixed-block store rewrites only the touched block" {
	"$CDT" init -q --chunker fixed --chunk-size 64K "$S"
	gen_bytes 4 4000000 > img1
	cp img1 img2
	printf 'XXXX' | dd of=img2 bs=1 seek=2000000 conv=notrunc status=none
	c add -q img1
	run_split c add --porcelain img2
	new=$(printf '%s' "$output" | cut -f3)
	[ "$new" -le 65600 ]
}

@test "compressible data is stored compressed" {
	init_store
	"$TEST_TOOL" gen-text 5 4000000 > log
	run_split c add --porcelain log
	new=$(printf '%s' "$output" | cut -f3)
	[ "$new" -lt 2000000 ]
}

@test "random data is stored raw, not inflated by compression" {
	init_store
	gen_bytes 6 2000000 > r
	run_split c add --porcelain r
	new=$(printf '%s' "$output" | cut -f3)
	# Only the object headers on top.
	[ "$new" -le $((2000000 + 12 * 200)) ]
	[ "$new" -ge 2000000 ]
}

@test "--json gives one parseable object per file" {
	init_store
	echo a > a; echo b > b
	run_split c add --json a b
	assert_status 0
	printf '%s\n' "$output" > out.json
	python3 - out.json <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert [r["name"] for r in rows] == ["a", "b"], rows
assert rows[0]["size"] == 2 and len(rows[0]["content"]) == 64
assert rows[0]["new_chunks"] == 1 and rows[0]["chunks"] == 1
PY
}

@test "a damaged loose chunk nobody uses is not named by a later add: the chunk is stored again" {
	init_store
	"$TEST_TOOL" gen-text 1 100000 > small
	gen_bytes 2 3000000 > big
	c add -q small
	c add -q --name big-first small
	c rm -q small big-first
	# Loose garbage, rotted before gc came.
	for o in $(find "$S/objects" -type f); do
		printf '\x5a\x5a\x5a\x5a' | dd of="$o" bs=1 seek=$(( $(stat -c %s "$o") / 2 )) conv=notrunc status=none
	done
	# A small add (loose objects again) and a big one holding the same data (a pack).
	c add -q --name again small
	{ cat small; cat big; } > both
	c add -q both
	c cat again > out
	cmp out small
	c cat both > out
	cmp out both
	run_split c fsck
	assert_status 0
}
