#!/usr/bin/env bats
# Damage to packs beyond a flipped byte: a truncated pack and an index whose pack is gone.

load test_helper
load lib-integrity

@test "a truncated pack is found, its files named, and repaired from the files" {
	init_store --chunk-size 4K
	gen_bytes 1 300000 > big
	gen_bytes 2 300000 > other
	c add -q big
	c add -q other
	pack=$(ls "$S"/packs/*.pack | head -n 1)
	size=$(stat -c %s "$pack")
	truncate -s $((size / 2)) "$pack"
	run_split c fsck
	[ "$status" -ne 0 ] || fail "fsck passed a truncated pack"
	[ $((status & 4)) -eq 4 ] || fail "fsck exit $status lacks the chunk bit"
	assert_out_contains "pack-corrupt"
	# Whichever file the pack held is named, and the other still restores.
	affected=$(printf '%s\n' "$output" | grep -o "affects '[a-z]*'" | sort -u | head -n 1)
	[ -n "$affected" ] || fail "no file named: $output"
	run_split c repair --from big other
	assert_status 0
	assert_fsck_clean
	for f in big other; do
		c cat -o out "$f"
		cmp out "$f"
	done
}

@test "an index whose pack is gone hides nothing silently: its chunks are missing" {
	init_store --chunk-size 4K
	gen_bytes 3 300000 > big
	echo small > small
	# Two adds: small's one chunk stays a loose object, outside big's pack.
	c add -q big
	c add -q small
	pack=$(ls "$S"/packs/*.pack)
	rm "$pack"
	run_split c fsck
	[ $((status & 4)) -eq 4 ] || fail "fsck exit $status lacks the chunk bit"
	assert_out_contains "affects 'big'"
	run_split c cat big
	assert_status 1
	assert_err_contains "pack file is missing"
	c cat small > out
	[ "$(cat out)" = small ]
	run_split c repair --from big
	assert_status 0
	assert_fsck_clean
	c cat -o out big
	cmp out big
}

@test "a chunk damaged where readers see it names the pack without an index that holds a good copy" {
	init_store --chunker fixed --chunk-size 4K --frame-size 0
	gen_bytes 4 300000 > a
	gen_bytes 5 300000 > b
	c add -q a
	c add -q b
	cp "$S"/packs/*.pack .
	# What a gc killed after its new pack was durable leaves, the old
	# packs' indexes removed: every chunk twice, once where readers see it.
	c gc > /dev/null
	cp -n pack-*.pack "$S"/packs/
	chunk=$(piece_id a 0 4096)
	damage_chunk "$chunk"
	run_split c fsck
	assert_status 4
	assert_out_contains "chunk-corrupt $chunk: "
	assert_out_contains ", which readers do not see, holds a good copy: 'cdt gc' or 'cdt repair' indexes it again; affects 'a'"
	assert_out_contains "it has no index; the pack itself is intact: 'cdt gc' or 'cdt repair' indexes it again from its objects (it holds the only good copy of 1 chunk that names need); affects 'a'"
	run_split c gc
	assert_status 0
	assert_fsck_clean
	c cat -o out a
	cmp out a
}

@test "a pack whose only damage is the checksum in its trailer is called so, and repair writes it again" {
	init_store
	gen_bytes 6 2000000 > f
	c add -q f
	pack=$(cd "$S/packs" && ls pack-*.pack)
	chmod u+w "$S/packs/$pack"
	size=$(stat -c %s "$S/packs/$pack")
	flip_byte "$S/packs/$pack" $((size - 5))
	run_split c fsck
	assert_status 4
	assert_out_contains "pack-corrupt packs/${pack%.pack}: the checksum in the pack's trailer is damaged; its objects are intact"
	c cat -o out f
	cmp out f
	run_split c repair
	assert_status 0
	assert_out_contains "rewrote damaged pack ${pack%.pack}"
	assert_fsck_clean
	c cat -o out f
	cmp out f
}
