#!/usr/bin/env bats
# Frames: chunks a pack compresses together. Damage to a frame reaches each
# chunk in it, and is named, healed and collected like damage to one chunk.

load test_helper
load lib-integrity

# The entries of the pack index that share the object at offset $2 of pack $1: their ids.
frame_ids() {
	python3 - "${1%.pack}.idx" "$2" <<'EOF2'
import struct, sys
b = open(sys.argv[1], 'rb').read()
assert b[4] == 2, "not an index of version 2"
n = struct.unpack_from('<Q', b, 8)[0]
ids, locs = 16 + 1024, 16 + 1024 + 32 * n
for i in range(n):
    off = struct.unpack_from('<Q', b, locs + 24 * i)[0]
    if off == int(sys.argv[2]):
        print(b[ids + 32 * i:ids + 32 * i + 32].hex())
EOF2
}

@test "a damaged frame is named for each chunk it holds and healed from the files" {
	init_store --chunk-size 4K --frame-size 16K
	"$TEST_TOOL" gen-text 1 300000 > big
	gen_bytes 2 300000 > other
	c add -q big
	c add -q other
	id=$("$TEST_TOOL" chunk fastcdc 4096 big | sed -n 10p | { read -r o l; piece_id big "$o" "$l"; })
	set -- $(packed_object "$id")
	ids=$(frame_ids "$1" "$2")
	n=$(printf '%s\n' "$ids" | wc -l)
	[ "$n" -gt 1 ] || fail "the chunk is alone in its object"
	flip_byte "$1" $(($2 + $3 / 2))
	run_split c fsck
	assert_status 4
	for i in $ids; do
		assert_out_contains "chunk-corrupt $i: pack $(basename "${1%.pack}"): object at offset $2 fails its CRC; affects 'big'"
	done
	assert_out_contains "problems (chunk-corrupt $n, pack-corrupt 1)"
	run_split c cat big
	assert_status 1
	c cat other > out
	cmp out other
	run_split c repair --from big
	assert_status 0
	run_split c fsck
	assert_status 0
	c cat big > out
	cmp out big
}

@test "gc keeps frames whose chunks all live, and takes apart those with dead ones" {
	init_store --chunk-size 4K --frame-size 16K
	"$TEST_TOOL" gen-text 3 400000 > a
	"$TEST_TOOL" gen-text 4 400000 > b
	cat a b > ab
	c add -q ab
	c add -q --name a2 a
	# a's chunks are ab's first ones (the cut after a may differ); rm ab
	# leaves its frames half dead.
	c rm -q ab
	c stats --json > before.json
	run_split c gc
	assert_status 0
	c cat a2 > out
	cmp out a
	run_split c fsck
	assert_status 0
	c stats --json > after.json
	python3 - before.json after.json <<'PY'
import json, sys
b, a = (json.load(open(f)) for f in sys.argv[1:])
assert a["reclaimable_bytes"] == 0 and a["dead_packed_bytes"] == 0, a
assert a["stored_bytes"] < b["stored_bytes"] + b["reclaimable_bytes"] + b["dead_packed_bytes"], (b, a)
assert a["chunks"] == b["chunks"], (b, a)
PY
	# Nothing but the live chunks is left, each in a frame.
	[ "$(find "$S/objects" -type f | wc -l)" = 0 ]
}

@test "frames are indexed again from the pack when the index is lost" {
	init_store --chunk-size 4K --frame-size 16K
	"$TEST_TOOL" gen-text 5 300000 > f
	c add -q f
	rm "$S"/packs/*.idx
	run_split c gc
	assert_status 0
	assert_out_contains "indexed 1 pack again"
	c cat f > out
	cmp out f
	run_split c fsck
	assert_status 0
}
