#!/usr/bin/env bats
# The multi-pack index: written when packs pile up and by gc; ignored when stale or damaged.

load test_helper

many_packs() {
	init_store
	mkdir src
	for i in $(seq 1 34); do
		gen_bytes $i 2000000 > src/f$i
		c add -q src/f$i
	done
}

@test "many packs get a multi-pack index, and every file still restores" {
	many_packs
	[ "$(find "$S/packs" -name '*.idx' | wc -l)" = 34 ]
	[ -f "$S/packs/multi-pack-index" ]
	for i in 1 17 34; do
		c cat "src/f$i" > out
		cmp out "src/f$i"
	done
	# Adding the same data again finds every chunk (nothing new stored).
	run_split c add --porcelain --name again src/f5
	[ "$(printf '%s' "$output" | cut -f3)" = 0 ]
}

@test "gc rewrites the multi-pack index over the packs it leaves" {
	many_packs
	c rm -q src/f1 src/f2
	c gc > /dev/null
	# Small packs were merged: fewer packs, so no index is needed over one.
	n=$(find "$S/packs" -name '*.idx' | wc -l)
	if [ "$n" -ge 2 ]; then [ -f "$S/packs/multi-pack-index" ]; else [ ! -e "$S/packs/multi-pack-index" ]; fi
	for i in 3 20 34; do
		c cat "src/f$i" > out
		cmp out "src/f$i"
	done
}

@test "a stale or damaged multi-pack index is ignored" {
	many_packs
	cp "$S/packs/multi-pack-index" saved
	# Damaged: lookups fall back to the packs' own indexes.
	printf 'garbage' | dd of="$S/packs/multi-pack-index" bs=1 seek=30 conv=notrunc status=none
	truncate -s 100 "$S/packs/multi-pack-index"
	c cat src/f9 > out
	cmp out src/f9
	# Stale: one of its packs is gone (its file removed by hand); the others still read.
	cp saved "$S/packs/multi-pack-index"
	victim=$(ls "$S/packs"/*.idx | head -n 1)
	rm "$victim" "${victim%.idx}.pack"
	ok=0
	for i in $(seq 1 34); do
		if c cat "src/f$i" > out 2>/dev/null && cmp -s out "src/f$i"; then ok=$((ok + 1)); fi
	done
	[ "$ok" = 33 ]
}

@test "lookups stay exact once the filter over packs outside the index is built" {
	# 6 packs, no multi-pack index; restoring 6000 chunks searches the
	# packs often enough to build the filter, after which every chunk must
	# still be found.
	init_store --chunker fixed --chunk-size 4K
	for i in 1 2 3 4 5; do
		gen_bytes $i 400000 > f$i
		c add -q f$i
	done
	gen_bytes 9 24576000 > big
	c add -q big
	[ "$(find "$S/packs" -name '*.idx' | wc -l)" = 6 ]
	[ ! -e "$S/packs/multi-pack-index" ]
	c cat big > out
	cmp out big
	c cat f1 f5 > out
	cat f1 f5 | cmp - out
	# Absent ids are never found, ids from every pack always are.
	"$TEST_TOOL" lookup "$S" 10000 > lookup.out
	grep -q '^packs_in_midx 0$' lookup.out
	c fsck > /dev/null
}
